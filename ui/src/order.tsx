/**
 * The order-entry panel of the agent desktop (the shop, docs/shop.md): while talking to a known
 * customer, or in wrap-up after, the agent picks products and methods and places the order for
 * this call. The engine prices it (the programme's promotions), takes the stock and numbers it;
 * the panel shows what it decided. Hidden when the engine runs no shop (the catalog route is 404).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type ShopOrder, type ShopProduct } from './api.ts';
import type { MessageKey } from './messages.ts';
import type { PageProps } from './main.tsx';

/** `¥299.00` from fen (integer minor units). */
export function yuan(fen: number): string {
  return `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
}

const DELIVERY = ['standard', 'express', 'post'] as const;
const PAYMENT = ['cod', 'card', 'transfer'] as const;

export function OrderPanel({ lang, t, callId, customerId }: Pick<PageProps, 'lang' | 't'> & { callId: string; customerId: string }) {
  const [products, setProducts] = useState<ShopProduct[] | null>(null);
  const [sku, setSku] = useState('');
  const [quantity, setQuantity] = useState(1);
  const [delivery, setDelivery] = useState<(typeof DELIVERY)[number]>('standard');
  const [payment, setPayment] = useState<(typeof PAYMENT)[number]>('cod');
  const [requests, setRequests] = useState('');
  const [order, setOrder] = useState<ShopOrder | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api<{ items: ShopProduct[] }>('GET', '/api/v1/shop/products')
      .then((r) => { setProducts(r.items); setSku(r.items[0]?.sku ?? ''); })
      .catch(() => setProducts([]));
  }, []);
  // A new call starts a new order.
  useEffect(() => { setOrder(null); setError(''); }, [callId]);
  if (products === null || products.length === 0) return null;
  // The order keeps the name it was entered with; the panel shows the catalog's name in the page's language.
  const nameOf = (itemSku: string, entered: string): string => {
    const p = products.find((x) => x.sku === itemSku);
    return p === undefined ? entered : lang === 'en' ? p.nameEn : p.nameZh;
  };

  const place = async (): Promise<void> => {
    setBusy(true);
    setError('');
    try {
      setOrder(await api<ShopOrder>('POST', '/api/v1/shop/orders', {
        callId, customerId, items: [{ sku, quantity }], deliveryMethod: delivery, paymentMethod: payment,
        ...(requests.trim() === '' ? {} : { specialRequests: requests.trim() }),
      }));
    } catch (e) {
      setError(e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="order" aria-label={t('order')} data-testid="order-panel">
      <h3>{t('order')}</h3>
      {order === null ? (
        <form class="row" onSubmit={(e) => { e.preventDefault(); void place(); }}>
          <label>{t('product')}
            <select value={sku} onChange={(e) => setSku(e.currentTarget.value)} data-testid="order-sku">
              {products.map((p) => <option value={p.sku}>{lang === 'en' ? p.nameEn : p.nameZh} · {yuan(p.priceFen)}</option>)}
            </select>
          </label>
          <label>{t('quantity')}
            <input type="number" min={1} max={99} value={quantity} onInput={(e) => setQuantity(Number(e.currentTarget.value))} data-testid="order-qty" />
          </label>
          <label>{t('delivery')}
            <select value={delivery} onChange={(e) => setDelivery(e.currentTarget.value as (typeof DELIVERY)[number])} data-testid="order-delivery">
              {DELIVERY.map((d) => <option value={d}>{t(`dm_${d}` as MessageKey)}</option>)}
            </select>
          </label>
          <label>{t('payment')}
            <select value={payment} onChange={(e) => setPayment(e.currentTarget.value as (typeof PAYMENT)[number])} data-testid="order-payment">
              {PAYMENT.map((p) => <option value={p}>{t(`pm_${p}` as MessageKey)}</option>)}
            </select>
          </label>
          <label>{t('specialRequests')}
            <input value={requests} maxLength={500} onInput={(e) => setRequests(e.currentTarget.value)} data-testid="order-requests" />
          </label>
          <button type="submit" class="primary" disabled={busy || sku === ''} data-testid="order-submit">{t('placeOrder')}</button>
        </form>
      ) : (
        <div data-testid="order-result">
          <p><b>{t('orderPlaced', { id: order.id })}</b> · {t('total')} <b data-testid="order-total">{yuan(order.totalFen)}</b></p>
          <ul>
            {order.items.map((i) => <li>{nameOf(i.sku, i.name)} × {i.quantity} · {i.gift ? t('gift') : yuan(i.unitPriceFen)}{!i.gift && i.unitPriceFen < i.listPriceFen ? ` (${t('listPrice')} ${yuan(i.listPriceFen)})` : ''}</li>)}
          </ul>
        </div>
      )}
      {error !== '' && <p class="error" role="alert">{error}</p>}
    </section>
  );
}
