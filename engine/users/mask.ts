/**
 * Masking of phone numbers for roles that should not see them whole (`138****5678`): the first
 * three and last four characters stay, every one between becomes `*`. Shorter numbers keep less:
 * 5 to 7 characters keep the last two, 4 or fewer are masked whole (an extension or a short code
 * tells little, but a partial one tells nothing useful either).
 */
export function maskNumber(number: string): string {
  const n = number.length;
  if (n >= 8) return number.slice(0, 3) + '*'.repeat(n - 7) + number.slice(n - 4);
  if (n >= 5) return '*'.repeat(n - 2) + number.slice(n - 2);
  return '*'.repeat(n);
}
