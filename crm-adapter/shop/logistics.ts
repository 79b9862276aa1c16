/**
 * Couriers' logistics feedback as CSV: `waybill,status,time,reason[,collected_fen]` with that
 * header line; status `delivered` / `refused` / `returned`, time ISO 8601 (UTC offset required) or
 * epoch ms, collected cash in fen (deliveries). The file is hostile input: bounded in size and
 * lines, every bad line reported with its number, the good ones returned for
 * {@link ShopStore.applyLogistics}.
 */
import type { LogisticsEvent, LogisticsStatus } from './types.ts';

/** Largest CSV accepted (bytes). */
export const LOGISTICS_CSV_MAX_BYTES = 2 * 1024 * 1024;
/** Most data lines of one file. */
export const LOGISTICS_CSV_MAX_LINES = 20_000;

const STATUSES: ReadonlySet<string> = new Set<LogisticsStatus>(['delivered', 'refused', 'returned']);
const HEADER = ['waybill', 'status', 'time', 'reason'];

/** Result of {@link parseLogisticsCsv}. */
export type LogisticsCsv =
  | { ok: true; events: LogisticsEvent[]; errors: { line: number; reason: string }[] }
  | { ok: false; reason: string };

/** Split one CSV line (RFC 4180 quotes, no line breaks inside a field); null when a quote is unbalanced. */
function fields(line: string): string[] | null {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch !== '"') cur += ch;
      else if (line[i + 1] === '"') {
        cur += '"';
        i++;
      } else quoted = false;
    } else if (ch === '"' && cur.length === 0) quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) return null;
  out.push(cur);
  return out.map((f) => f.trim());
}

/** A courier's report time: epoch ms, or ISO 8601 with its UTC offset; null otherwise (the CSV and the webhook read times alike). */
export function parseLogisticsTime(s: string): number | null {
  if (s.length === 0) return null;
  let allDigits = true;
  for (const ch of s) if (ch < '0' || ch > '9') allDigits = false;
  if (allDigits) return s.length <= 15 ? Number(s) : null;
  // A time without its offset is ambiguous: refused rather than read as local time.
  if (!s.endsWith('Z') && s.at(-6) !== '+' && s.at(-6) !== '-') return null;
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** Parse a courier's CSV; see the module comment. */
export function parseLogisticsCsv(text: string): LogisticsCsv {
  if (Buffer.byteLength(text, 'utf8') > LOGISTICS_CSV_MAX_BYTES) return { ok: false, reason: `larger than ${LOGISTICS_CSV_MAX_BYTES} bytes` };
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  const head = fields(lines[0] ?? '');
  if (head === null || HEADER.some((h, i) => head[i]?.toLowerCase() !== h)) return { ok: false, reason: `the first line must be ${HEADER.join(',')}[,collected_fen]` };
  const withCash = head[4]?.toLowerCase() === 'collected_fen';
  const events: LogisticsEvent[] = [];
  const errors: { line: number; reason: string }[] = [];
  let data = 0;
  for (let i = 1; i < lines.length; i++) {
    const raw = lines[i]!;
    if (raw.trim().length === 0) continue;
    if (++data > LOGISTICS_CSV_MAX_LINES) return { ok: false, reason: `more than ${LOGISTICS_CSV_MAX_LINES} lines` };
    const line = i + 1;
    const f = fields(raw);
    if (f === null) {
      errors.push({ line, reason: 'unbalanced quote' });
      continue;
    }
    const [waybill = '', status = '', time = '', reason = '', cash = ''] = f;
    if (waybill.length === 0 || waybill.length > 40) {
      errors.push({ line, reason: 'waybill: 1-40 characters' });
      continue;
    }
    if (!STATUSES.has(status)) {
      errors.push({ line, reason: `status: delivered, refused or returned, not "${status.slice(0, 20)}"` });
      continue;
    }
    const at = parseLogisticsTime(time);
    if (at === null) {
      errors.push({ line, reason: 'time: ISO 8601 with a UTC offset, or epoch ms' });
      continue;
    }
    let collectedFen: number | null = null;
    if (withCash && cash.length > 0) {
      const n = Number(cash);
      if (!Number.isSafeInteger(n) || n < 0 || n > 2_000_000_000) {
        errors.push({ line, reason: 'collected_fen: a whole number of fen' });
        continue;
      }
      collectedFen = n;
    }
    events.push({ line, waybill, status: status as LogisticsStatus, at, reason: reason.length === 0 ? null : reason.slice(0, 200), collectedFen });
  }
  return { ok: true, events, errors };
}
