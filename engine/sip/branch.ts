/**
 * Random identifiers of RFC 3261: Via branch (§8.1.1.7), From/To tag (§19.3) and Call-ID (§8.1.1.4).
 *
 * Each identifier carries at least 80 bits from the CSPRNG, so that a branch is unique across space
 * and time as §8.1.1.7 asks and cannot be guessed by an off-path attacker forging CANCEL or BYE.
 * `crypto.randomBytes` is called once per 4 KiB pool, not once per identifier: one syscall-backed
 * call costs about as much as a few hundred identifiers built from the pool.
 */
import { randomFillSync } from 'node:crypto';

/** The RFC 3261 magic cookie that starts every branch of a compliant element (§8.1.1.7). */
export const MAGIC_COOKIE = 'z9hG4bK';

/** Lower-case RFC 4648 base32 alphabet: token-safe in Via, tags and Call-ID, and case-folding safe. */
const ALPHABET = Buffer.from('abcdefghijklmnopqrstuvwxyz234567', 'latin1');
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let poolPos = POOL_BYTES;
/** Output scratch: the longest identifier we build. */
const scratch = Buffer.allocUnsafe(64);

/** Characters in a branch after the cookie: 16 x 5 bits = 80 bits. */
const BRANCH_CHARS = 16;
/** Characters in a tag: 16 x 5 bits = 80 bits (§19.3 asks for at least 32). */
const TAG_CHARS = 16;
/** Characters in a Call-ID: 24 x 5 bits = 120 bits. */
const CALL_ID_CHARS = 24;

/**
 * Write `n` random base32 characters into `scratch` from `offset`. Each pool byte gives 5 bits
 * (`& 31` of a uniform byte is uniform), wasting 3 bits to keep the loop branch-free.
 */
function fillRandom(offset: number, n: number): void {
  if (poolPos + n > POOL_BYTES) {
    randomFillSync(pool);
    poolPos = 0;
  }
  for (let i = 0; i < n; i++) {
    scratch[offset + i] = ALPHABET[pool[poolPos + i]! & 31]!;
  }
  poolPos += n;
}

/** Latin-1 bytes of the cookie, copied once into the scratch head. */
const COOKIE_LEN = MAGIC_COOKIE.length;

/**
 * A new Via branch: `z9hG4bK` followed by 16 base32 characters (80 random bits).
 * @example `z9hG4bKq3x7m2ab0c4de5fg` (shape only)
 */
export function newBranch(): string {
  scratch.write(MAGIC_COOKIE, 0, 'latin1');
  fillRandom(COOKIE_LEN, BRANCH_CHARS);
  return scratch.toString('latin1', 0, COOKIE_LEN + BRANCH_CHARS);
}

/** A new From/To tag: 16 base32 characters (80 random bits). */
export function newTag(): string {
  fillRandom(0, TAG_CHARS);
  return scratch.toString('latin1', 0, TAG_CHARS);
}

/** A new Call-ID: 24 base32 characters (120 random bits); callers may append `@host`. */
export function newCallId(): string {
  fillRandom(0, CALL_ID_CHARS);
  return scratch.toString('latin1', 0, CALL_ID_CHARS);
}

/** True when a branch starts with the RFC 3261 magic cookie (§17.2.3: use branch matching). */
export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.length > COOKIE_LEN && branch.startsWith(MAGIC_COOKIE);
}
