/**
 * The shop's own reports on the reports page (docs/shop.md, Shop reports): orders by agent (with
 * the engine's answered calls and conversion) and by product, deliveries by courier and by product
 * (shipped, delivered, refused, returned and the rates), for the page's day range. The engine
 * computes every figure; this section lays them out. Without the shop (its routes answer 404)
 * the section is not shown.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api.ts';
import { yuan } from './order.tsx';
import type { MessageKey } from './messages.ts';
import type { PageProps } from './main.tsx';

/** The page's range as the shop reports take it. */
export interface ShopRange {
  from: number;
  to: number;
  utcOffsetMinutes: number;
}

interface AgentRow { agent: string | null; orders: number; units: number; valueFen: number; answered: number | null; conversion: number | null }
interface ProductRow { sku: string; nameZh: string | null; nameEn: string | null; orders: number; units: number; giftUnits: number; valueFen: number }
interface DeliveryRow { key: string; shipped: number; delivered: number; refused: number; returned: number; refusalRate: number | null; returnRate: number | null }

interface Shown {
  agents: AgentRow[];
  products: ProductRow[];
  couriers: DeliveryRow[];
  delivered: DeliveryRow[];
}

function percent(v: number | null): string {
  return v === null ? '—' : `${Math.round(v * 1000) / 10}%`;
}

/** The query string of a shop report over `range`. */
function shopQuery(path: 'orders' | 'delivery', by: string, range: ShopRange, format: 'json' | 'csv'): string {
  const q = new URLSearchParams({ by, from: String(range.from), to: String(range.to), format });
  if (path === 'orders') {
    q.set('interval', 'all');
    q.set('utcOffsetMinutes', String(range.utcOffsetMinutes));
  }
  return `/api/v1/shop/reports/${path}?${q.toString()}`;
}

/** A small table: label keys of the columns and each row's cells. */
function Table({ t, title, testid, csv, head, rows }: { t: PageProps['t']; title: MessageKey; testid: string; csv: string; head: MessageKey[]; rows: string[][] }) {
  return (
    <div class="shop-report" data-testid={testid}>
      <h3>{t(title)} <a class="button" href={csv} download>{t('rp_csv')}</a></h3>
      {rows.length === 0 ? <p class="muted">{t('sr_empty')}</p> : (
        <table>
          <thead><tr>{head.map((h) => <th>{t(h)}</th>)}</tr></thead>
          <tbody>{rows.map((r) => <tr data-key={r[0]}>{r.map((c, i) => <td data-col={head[i]}>{c}</td>)}</tr>)}</tbody>
        </table>
      )}
    </div>
  );
}

/** The shop's section of the reports page; `range` null: not asked yet. */
export function ShopReports({ t, lang, range }: { t: PageProps['t']; lang: PageProps['lang']; range: ShopRange | null }) {
  const [shown, setShown] = useState<Shown | null>(null);
  const [absent, setAbsent] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    if (range === null || absent) return;
    setError('');
    const get = <T,>(path: 'orders' | 'delivery', by: string) => api<{ rows: T[] }>('GET', shopQuery(path, by, range, 'json')).then((r) => r.rows);
    Promise.all([get<AgentRow>('orders', 'agent'), get<ProductRow>('orders', 'product'), get<DeliveryRow>('delivery', 'courier'), get<DeliveryRow>('delivery', 'product')])
      .then(([agents, products, couriers, delivered]) => setShown({ agents, products, couriers, delivered }))
      .catch((e: unknown) => {
        // No shop adapter: its routes do not exist.
        if (e instanceof ApiError && e.status === 404) setAbsent(true);
        else setError(e instanceof Error ? e.message : String(e));
      });
  }, [range]);
  // Nothing until the shop answered: an engine without it never shows the section.
  if (absent || range === null || (shown === null && error === '')) return null;
  const deliveryHead: MessageKey[] = ['sr_shipped', 'sr_delivered', 'sr_refused', 'sr_returned', 'sr_refusalRate', 'sr_returnRate'];
  const deliveryCells = (r: DeliveryRow): string[] => [r.key, String(r.shipped), String(r.delivered), String(r.refused), String(r.returned), percent(r.refusalRate), percent(r.returnRate)];
  return (
    <section class="card" data-testid="shop-reports">
      <h2>{t('sr_title')}</h2>
      {error !== '' && <p class="error" role="alert">{error}</p>}
      {shown !== null && error === '' && (
        <div class="shop-reports">
          <Table t={t} title="sr_byAgent" testid="sr-agents" csv={shopQuery('orders', 'agent', range, 'csv')}
            head={['agent', 'rp_orders', 'sr_units', 'rp_orderValue', 'rp_answered', 'rp_conversion']}
            rows={shown.agents.map((r) => [r.agent ?? t('sr_staff'), String(r.orders), String(r.units), yuan(r.valueFen), r.answered === null ? '—' : String(r.answered), percent(r.conversion)])} />
          <Table t={t} title="sr_byProduct" testid="sr-products" csv={shopQuery('orders', 'product', range, 'csv')}
            head={['sr_sku', 'sr_product', 'rp_orders', 'sr_units', 'sr_giftUnits', 'rp_orderValue']}
            rows={shown.products.map((r) => [r.sku, (lang === 'en' ? r.nameEn : r.nameZh) ?? '—', String(r.orders), String(r.units), String(r.giftUnits), yuan(r.valueFen)])} />
          <Table t={t} title="sr_byCourier" testid="sr-couriers" csv={shopQuery('delivery', 'courier', range, 'csv')}
            head={['sr_courier', ...deliveryHead]} rows={shown.couriers.map(deliveryCells)} />
          <Table t={t} title="sr_deliveryByProduct" testid="sr-delivered" csv={shopQuery('delivery', 'product', range, 'csv')}
            head={['sr_sku', ...deliveryHead]} rows={shown.delivered.map(deliveryCells)} />
        </div>
      )}
    </section>
  );
}
