/**
 * The reports page (issue 18, docs/reports.md): a day range in the center's time zone, the
 * interval (15/30/60 minutes) and one grouping; the engine's report (`GET /api/v1/reports`) as a
 * table of its measures and a uPlot chart of offered / answered / abandoned per interval with the
 * service level; CSV and XLSX from the same route; with the shop, its own reports below
 * (shop-reports.tsx). The engine computes every figure; this page
 * only lays them out. Supervisors and admins (the route refuses agents).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, ApiError } from './api.ts';
import { duration } from './format.ts';
import { yuan } from './order.tsx';
import { ShopReports, type ShopRange } from './shop-reports.tsx';
import type { MessageKey } from './messages.ts';
import type { PageProps } from './main.tsx';

/** Groupings the page offers (the API has `direction` too). */
const GROUPS = ['', 'queue', 'agent', 'team', 'programme', 'airing'] as const;
type Group = (typeof GROUPS)[number];
const INTERVALS = ['15m', '30m', '60m'] as const;
type Interval = (typeof INTERVALS)[number];

/** One row of `GET /api/v1/reports` (engine/reports `ReportRow`), the fields the page shows. */
export interface ReportRow {
  start: number;
  end: number;
  keys: Record<string, string | null>;
  figures: Record<string, number>;
  derived: Record<string, number | null>;
  /** Orders and conversion (the shop adapter, a report by programme / airing / totals); null otherwise. */
  orders?: { orders: number; valueFen: number; conversion: number | null } | null;
}

/** The table's columns: label key and how a row gives the cell. */
const COLUMNS: ReadonlyArray<{ key: MessageKey; cell: (r: ReportRow) => string }> = [
  { key: 'rp_offered', cell: (r) => String(r.figures['offered'] ?? 0) },
  { key: 'rp_answered', cell: (r) => String(r.figures['answered'] ?? 0) },
  { key: 'rp_inSl', cell: (r) => String(r.figures['answeredInSl'] ?? 0) },
  { key: 'rp_sl', cell: (r) => percent(r.derived['serviceLevel']) },
  { key: 'rp_abandoned', cell: (r) => String(r.derived['abandoned'] ?? 0) },
  { key: 'rp_abandonRate', cell: (r) => percent(r.derived['abandonRate']) },
  { key: 'rp_asa', cell: (r) => ms(r.derived['asaMs']) },
  { key: 'rp_avgWait', cell: (r) => ms(r.derived['avgWaitMs']) },
  { key: 'rp_maxWait', cell: (r) => ms(r.figures['waitMaxMs'] ?? null) },
  { key: 'rp_handled', cell: (r) => String(r.figures['handled'] ?? 0) },
  { key: 'rp_aht', cell: (r) => ms(r.derived['ahtMs']) },
  { key: 'rp_talk', cell: (r) => ms(r.derived['avgTalkMs']) },
  { key: 'rp_acw', cell: (r) => ms(r.derived['avgAcwMs']) },
  { key: 'rp_hold', cell: (r) => ms(r.derived['avgHoldMs']) },
  { key: 'rp_transfers', cell: (r) => String(r.figures['transfers'] ?? 0) },
  { key: 'rp_callbacks', cell: (r) => String(r.figures['callbacksCaptured'] ?? 0) },
  { key: 'rp_completedIvr', cell: (r) => String(r.figures['completedIvr'] ?? 0) },
];

/** The orders' columns, shown when the rows carry orders (the engine decides when they apply). */
const ORDER_COLUMNS: ReadonlyArray<{ key: MessageKey; cell: (r: ReportRow) => string }> = [
  { key: 'rp_orders', cell: (r) => (r.orders == null ? '—' : String(r.orders.orders)) },
  { key: 'rp_orderValue', cell: (r) => (r.orders == null ? '—' : yuan(r.orders.valueFen)) },
  { key: 'rp_conversion', cell: (r) => percent(r.orders?.conversion) },
];

function percent(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : `${Math.round(v * 1000) / 10}%`;
}

function ms(v: number | null | undefined): string {
  return v === null || v === undefined ? '—' : duration(v);
}

/** Minutes `timeZone` is ahead of UTC at `at` (Intl: no time-zone library). */
export function tzOffsetMinutes(timeZone: string, at: number): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(at);
  const n = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Math.round((Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second')) - Math.floor(at / 1000) * 1000) / 60_000);
}

/** Midnight of a `YYYY-MM-DD` day in `timeZone` (epoch ms). */
export function dayStart(day: string, timeZone: string): number {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const utc = Date.UTC(y, m - 1, d);
  return utc - tzOffsetMinutes(timeZone, utc - tzOffsetMinutes(timeZone, utc) * 60_000) * 60_000;
}

/** Today (`YYYY-MM-DD`) in `timeZone`. */
function today(timeZone: string): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(Date.now());
}

/** The form's days as epoch ms: midnight of the first to midnight after the last, in the center's time zone. */
function rangeOf(f: { from: string; to: string }, timeZone: string): ShopRange {
  const from = dayStart(f.from, timeZone);
  const [y, m, d] = f.to.split('-').map(Number) as [number, number, number];
  const to = dayStart(new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10), timeZone);
  return { from, to: Math.max(to, from + 900_000), utcOffsetMinutes: tzOffsetMinutes(timeZone, from) };
}

/** The query string of a report of the form's choices. */
function reportQuery(f: { from: string; to: string; interval: Interval; group: Group }, timeZone: string, format: 'json' | 'csv' | 'xlsx'): string {
  const r = rangeOf(f, timeZone);
  const q = new URLSearchParams({ from: String(r.from), to: String(r.to), interval: f.interval, utcOffsetMinutes: String(r.utcOffsetMinutes), format });
  if (f.group !== '') q.set('group', f.group);
  return q.toString();
}

/** Per interval start: offered, answered, abandoned summed over the groups, and the service level of their sum. */
export function chartData(rows: readonly ReportRow[]): [number[], number[], number[], number[], Array<number | null>] {
  const by = new Map<number, { offered: number; answered: number; abandoned: number; inSl: number; queued: number }>();
  for (const r of rows) {
    const s = by.get(r.start) ?? { offered: 0, answered: 0, abandoned: 0, inSl: 0, queued: 0 };
    s.offered += r.figures['offered'] ?? 0;
    s.answered += r.figures['answered'] ?? 0;
    s.abandoned += r.derived['abandoned'] ?? 0;
    s.inSl += r.figures['answeredInSl'] ?? 0;
    s.queued += r.figures['queued'] ?? 0;
    by.set(r.start, s);
  }
  const starts = [...by.keys()].sort((a, b) => a - b);
  const pick = (f: (s: { offered: number; answered: number; abandoned: number; inSl: number; queued: number }) => number): number[] => starts.map((k) => f(by.get(k)!));
  return [
    starts.map((s) => s / 1000), pick((s) => s.offered), pick((s) => s.answered), pick((s) => s.abandoned),
    starts.map((k) => { const s = by.get(k)!; return s.queued === 0 ? null : Math.round((s.inSl / s.queued) * 1000) / 10; }),
  ];
}

export function Reports({ lang, t, session }: PageProps) {
  const tz = session.desktop.timeZone;
  const [form, setForm] = useState<{ from: string; to: string; interval: Interval; group: Group }>({ from: today(tz), to: today(tz), interval: '60m', group: '' });
  const [shown, setShown] = useState<{ rows: ReportRow[]; group: Group } | null>(null);
  const rows = shown?.rows ?? null;
  const [error, setError] = useState('');
  const [shopRange, setShopRange] = useState<ShopRange | null>(null);
  const chartEl = useRef<HTMLDivElement>(null);
  const denied = session.user?.role === 'agent';

  const run = (): void => {
    setError('');
    const group = form.group;
    setShopRange(rangeOf(form, tz));
    api<{ rows: ReportRow[] }>('GET', `/api/v1/reports?${reportQuery(form, tz, 'json')}`)
      .then((r) => setShown({ rows: r.rows, group }))
      .catch((e: unknown) => setError(e instanceof ApiError && e.status === 403 ? t('rp_noAccess') : e instanceof Error ? e.message : String(e)));
  };
  useEffect(() => { if (!denied) run(); }, []);

  // The chart is built again when the rows or the language change (uPlot's labels are fixed at creation).
  useEffect(() => {
    if (chartEl.current === null || rows === null || rows.length === 0) return;
    const hhmm = new Intl.DateTimeFormat(lang, { timeZone: tz, hour: '2-digit', minute: '2-digit', hour12: false });
    const u = new uPlot({
      width: Math.min(1000, chartEl.current.clientWidth || 1000), height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz),
      scales: { y: { range: (_u, _min, max) => [0, Math.max(5, max)] }, sl: { range: [0, 100] } },
      series: [
        { label: t('rp_start'), value: (_u, v) => (v === null ? '—' : hhmm.format(v * 1000)) },
        { label: t('rp_offered'), stroke: '#2c6fbb', width: 2 },
        { label: t('rp_answered'), stroke: '#1e8449', width: 2 },
        { label: t('rp_abandoned'), stroke: '#c0392b', width: 2 },
        { label: t('rp_sl'), stroke: '#8e44ad', width: 2, dash: [6, 4], scale: 'sl', value: (_u, v) => (v === null ? '—' : `${v}%`) },
      ],
      // Interval starts as 24-hour clock times of the center (uPlot's default is a 12-hour clock).
      axes: [{ values: (_u, vs) => vs.map((v) => hhmm.format(v * 1000)) }, { scale: 'y' }, { scale: 'sl', side: 1, grid: { show: false }, values: (_u, vs) => vs.map((v) => `${v}%`) }],
    }, chartData(rows), chartEl.current);
    return () => u.destroy();
  }, [rows, lang]);

  if (denied) return <section class="card"><p class="error">{t('rp_noAccess')}</p></section>;
  const set = <K extends keyof typeof form>(k: K, v: (typeof form)[K]): void => setForm({ ...form, [k]: v });
  const groupLabel = (g: Group): string => t(g === '' ? 'rp_g_none' : (`rp_g_${g}` as MessageKey));
  const columns = shown !== null && shown.rows.some((r) => r.orders != null) ? [...COLUMNS, ...ORDER_COLUMNS] : COLUMNS;
  const when = new Intl.DateTimeFormat(lang, { timeZone: tz, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false });
  return (
    <div class="reports">
      <section class="card">
        <h2>{t('rp_title')}</h2>
        <form class="row actions" onSubmit={(e) => { e.preventDefault(); run(); }}>
          <label>{t('rp_from')}<input type="date" value={form.from} onInput={(e) => set('from', e.currentTarget.value)} data-testid="rp-from" required /></label>
          <label>{t('rp_to')}<input type="date" value={form.to} onInput={(e) => set('to', e.currentTarget.value)} data-testid="rp-to" required /></label>
          <label>{t('rp_interval')}
            <select value={form.interval} onChange={(e) => set('interval', e.currentTarget.value as Interval)} data-testid="rp-interval">
              {INTERVALS.map((i) => <option value={i}>{t(`rp_${i}` as MessageKey)}</option>)}
            </select>
          </label>
          <label>{t('rp_group')}
            <select value={form.group} onChange={(e) => set('group', e.currentTarget.value as Group)} data-testid="rp-group">
              {GROUPS.map((g) => <option value={g}>{groupLabel(g)}</option>)}
            </select>
          </label>
          <button type="submit" class="primary" data-testid="rp-run">{t('rp_run')}</button>
          <a class="button" href={`/api/v1/reports?${reportQuery(form, tz, 'csv')}`} download data-testid="rp-csv">{t('rp_csv')}</a>
          <a class="button" href={`/api/v1/reports?${reportQuery(form, tz, 'xlsx')}`} download data-testid="rp-xlsx">{t('rp_xlsx')}</a>
        </form>
        {error !== '' && <p class="error" role="alert">{error}</p>}
      </section>
      <section class="card">
        <h2>{t('rp_chart')}</h2>
        {rows !== null && rows.length === 0 && <p class="muted" data-testid="rp-empty">{t('rp_empty')}</p>}
        <div ref={chartEl} data-testid="rp-chart" />
      </section>
      {shown !== null && shown.rows.length > 0 && (
        <section class="card">
          <table data-testid="rp-table">
            <thead>
              <tr>
                <th>{t('rp_start')}</th>
                {shown.group !== '' && <th>{groupLabel(shown.group)}</th>}
                {columns.map((c) => <th>{t(c.key)}</th>)}
              </tr>
            </thead>
            <tbody>
              {shown.rows.map((r) => (
                <tr data-start={r.start}>
                  <td>{when.format(r.start)}</td>
                  {shown.group !== '' && <td data-col="group">{r.keys[shown.group] ?? '—'}</td>}
                  {columns.map((c) => <td data-col={c.key}>{c.cell(r)}</td>)}
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
      <ShopReports t={t} lang={lang} range={shopRange} />
    </div>
  );
}
