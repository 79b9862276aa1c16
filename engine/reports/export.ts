/**
 * Report rows as a table, and that table as CSV (RFC 4180) or XLSX (exceljs). One table for both
 * formats, so a column means the same in each: interval start and end (ISO 8601 UTC), the grouped
 * dimensions, every counted figure, the derived figures, agent time (with a column per
 * not-ready reason that occurs), and orders when the rows carry them (orders.ts).
 */
import { MAX_MEASURES, SUM_MEASURES, type Derived } from './measures.ts';
import type { Dimension, ReportRow } from './query.ts';

/** A cell: text, number, or empty. */
export type Cell = string | number | null;

/** Header and rows of an export. */
export interface ReportTable {
  header: string[];
  rows: Cell[][];
}

const DERIVED: (keyof Derived)[] = [
  'abandoned', 'abandonRate', 'serviceLevel', 'asaMs', 'avgWaitMs', 'avgAbandonIvrMs', 'avgAbandonQueueMs', 'avgAbandonRingingMs',
  'ahtMs', 'avgTalkMs', 'avgAcwMs', 'avgHoldMs', 'avgCallbackReachMs', 'callsPerAgentHour', 'occupancy',
];

/** The export table of a report grouped by `group`. */
export function reportTable(rows: readonly ReportRow[], group: readonly Dimension[]): ReportTable {
  const withTime = rows.some((r) => r.agentTime !== null);
  const reasons = [...new Set(rows.flatMap((r) => Object.keys(r.agentTime?.notReadyMs ?? {})))].sort();
  const header = ['start', 'end', ...group, ...SUM_MEASURES, ...MAX_MEASURES, ...DERIVED];
  if (withTime) header.push('staffedMs', 'busyMs', 'idleMs', ...reasons.map((r) => `notReadyMs:${r === '' ? '(none)' : r}`));
  const withOrders = rows.some((r) => r.orders !== null);
  if (withOrders) header.push('orders', 'orderValueFen', 'conversion');
  const out: Cell[][] = rows.map((r) => {
    const line: Cell[] = [new Date(r.start).toISOString(), new Date(r.end).toISOString()];
    for (const d of group) line.push(r.keys[d] ?? null);
    for (const m of SUM_MEASURES) line.push(r.figures[m]);
    for (const m of MAX_MEASURES) line.push(r.figures[m]);
    for (const d of DERIVED) line.push(r.derived[d]);
    if (withTime) {
      const t = r.agentTime;
      line.push(t?.staffedMs ?? null, t?.busyMs ?? null, t?.idleMs ?? null, ...reasons.map((x) => t?.notReadyMs[x] ?? (t === null ? null : 0)));
    }
    if (withOrders) line.push(r.orders?.orders ?? null, r.orders?.valueFen ?? null, r.orders?.conversion ?? null);
    return line;
  });
  return { header, rows: out };
}

function csvCell(c: Cell): string {
  if (c === null) return '';
  if (typeof c === 'number') return String(c);
  // A spreadsheet runs a cell starting with = + - @ as a formula: a programme name is not one.
  const text = c.length > 0 && '=+-@\t\r'.includes(c[0]!) ? `'${c}` : c;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The table as CSV (CRLF line ends, RFC 4180). */
export function toCsv(t: ReportTable): string {
  return [t.header, ...t.rows].map((line) => line.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

/** The table as an XLSX workbook with one sheet `report` (header row frozen). */
export async function toXlsx(t: ReportTable): Promise<Buffer> {
  // Loaded on the first export, not with the engine: exceljs is ~7.6 MiB of live heap (its
  // sources, zip and XML code) that every engine held from start for an export few ever ask for
  // (docs/surge.md, "Memory at the peak").
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  wb.creator = 'onair';
  const ws = wb.addWorksheet('report', { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.addRow(t.header).font = { bold: true };
  for (const r of t.rows) ws.addRow(r);
  const data = await wb.xlsx.writeBuffer();
  return Buffer.from(data as ArrayBuffer);
}
