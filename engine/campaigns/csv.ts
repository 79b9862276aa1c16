/**
 * The contact list of a campaign as CSV (hostile input: every line validated, problems reported by
 * line, nothing thrown). The first line is the header: one column named `number`, `phone` or
 * `msisdn` (the customer's number), every other column a custom field (letters, digits, `_`),
 * shown to the agent and usable in the script as `{{name}}`. Fields are separated by `,` or `;`
 * (whichever the header uses), optionally in double quotes (`""` inside is one quote).
 */
import { normalizeDncNumber } from '../store/index.ts';

/** Most custom columns a list may have. */
export const MAX_FIELDS = 50;
/** Longest field value (characters). */
export const MAX_FIELD_LENGTH = 500;
/** Problem lines listed in a report (the rest are only counted). */
const LISTED = 50;

/** One contact read from the file. */
export interface ContactRow {
  /** 1-based line number in the file. */
  line: number;
  number: string;
  fields: Record<string, string>;
}

/** A line refused, with why. */
export interface LineError {
  line: number;
  reason: string;
}

/** What a CSV held. */
export type ContactCsv =
  | { ok: true; columns: string[]; rows: ContactRow[]; lines: number; refused: number; errors: LineError[]; truncated: boolean }
  | { ok: false; reason: string };

/** Split one line at `sep`, honouring double quotes; null when a quote is not closed. */
export function splitCsvLine(line: string, sep: string): string[] | null {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    while (i < line.length && line[i] === ' ') i++;
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return null;
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      while (i < line.length && line[i] !== sep) i++;
    } else {
      const end = line.indexOf(sep, i);
      field = (end < 0 ? line.slice(i) : line.slice(i, end)).trim();
      i = end < 0 ? line.length : end;
    }
    out.push(field);
    if (i >= line.length) return out;
    i++; // the separator
  }
}

const NUMBER_COLUMNS = ['number', 'phone', 'msisdn'];

function isFieldName(s: string): boolean {
  if (s.length === 0 || s.length > 40) return false;
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    if (!ok) return false;
  }
  return true;
}

/**
 * Read a contact list. At most `maxRows` contacts are taken (the rest: `truncated`); a number
 * twice in the file is refused the second time.
 */
export function parseContactsCsv(text: string, maxRows: number): ContactCsv {
  const lines = text.split('\n');
  let at = 0;
  while (at < lines.length && lines[at]!.trim() === '') at++;
  const headerLine = (lines[at] ?? '').replace(/\r$/, '');
  if (headerLine.trim() === '') return { ok: false, reason: 'empty file: the first line must be the header' };
  const sep = headerLine.includes(';') && !headerLine.includes(',') ? ';' : ',';
  const header = splitCsvLine(headerLine, sep);
  if (header === null) return { ok: false, reason: 'line 1: unclosed quote in the header' };
  const columns = header.map((h) => h.trim());
  const numberAt = columns.findIndex((c) => NUMBER_COLUMNS.includes(c.toLowerCase()));
  if (numberAt < 0) return { ok: false, reason: 'the header has no number column (number, phone or msisdn)' };
  if (columns.length - 1 > MAX_FIELDS) return { ok: false, reason: `more than ${MAX_FIELDS} custom columns` };
  for (const [i, c] of columns.entries()) {
    if (i !== numberAt && !isFieldName(c)) return { ok: false, reason: `column ${i + 1} "${c.slice(0, 40)}": a field name is letters, digits and _ (at most 40)` };
  }
  if (new Set(columns).size !== columns.length) return { ok: false, reason: 'a column name appears twice' };
  const rows: ContactRow[] = [];
  const errors: LineError[] = [];
  const seen = new Set<string>();
  let refused = 0;
  let count = 0;
  let truncated = false;
  const refuse = (line: number, reason: string): void => {
    refused++;
    if (errors.length < LISTED) errors.push({ line, reason });
  };
  for (let i = at + 1; i < lines.length; i++) {
    const raw = lines[i]!.endsWith('\r') ? lines[i]!.slice(0, -1) : lines[i]!;
    if (raw.trim() === '') continue;
    count++;
    const lineNo = i + 1;
    if (rows.length >= maxRows) {
      truncated = true;
      refuse(lineNo, `over the limit of ${maxRows} contacts`);
      continue;
    }
    const f = splitCsvLine(raw, sep);
    if (f === null) {
      refuse(lineNo, 'unclosed quote');
      continue;
    }
    if (f.length !== columns.length) {
      refuse(lineNo, `${f.length} fields, the header has ${columns.length}`);
      continue;
    }
    const number = normalizeDncNumber(f[numberAt]!);
    if (number === null) {
      refuse(lineNo, `"${f[numberAt]!.slice(0, 30)}" is not a phone number`);
      continue;
    }
    if (seen.has(number)) {
      refuse(lineNo, `${number} is in the file already`);
      continue;
    }
    const long = f.findIndex((x) => x.length > MAX_FIELD_LENGTH);
    if (long >= 0) {
      refuse(lineNo, `field ${columns[long]} longer than ${MAX_FIELD_LENGTH} characters`);
      continue;
    }
    seen.add(number);
    const fields: Record<string, string> = {};
    for (const [k, c] of columns.entries()) if (k !== numberAt) fields[c] = f[k]!;
    rows.push({ line: lineNo, number, fields });
  }
  return { ok: true, columns: columns.filter((_, i) => i !== numberAt), rows, lines: count, refused, errors, truncated };
}

/** The script with the contact's fields: `{{name}}` → the value (`{{number}}` the number); unknown names stay as written. */
export function renderScript(script: string, number: string, fields: Readonly<Record<string, string>>): string {
  let out = '';
  let i = 0;
  for (;;) {
    const open = script.indexOf('{{', i);
    const close = open < 0 ? -1 : script.indexOf('}}', open + 2);
    if (open < 0 || close < 0) return out + script.slice(i);
    const name = script.slice(open + 2, close).trim();
    const value = name === 'number' ? number : Object.hasOwn(fields, name) ? fields[name]! : undefined;
    out += script.slice(i, open) + (value ?? script.slice(open, close + 2));
    i = close + 2;
  }
}
