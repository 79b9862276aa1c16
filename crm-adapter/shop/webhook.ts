/**
 * Couriers' webhook authentication (docs/shop.md, Courier webhook): each courier signs the raw
 * body with its own secret (crm.logisticsWebhook.secrets):
 *
 * ```
 *  X-Onair-Timestamp: 1796608800                  epoch seconds, within ±toleranceSeconds of now
 *  X-Onair-Signature: sha256=<hex>                HMAC-SHA256(secret, "<timestamp>." + raw body)
 * ```
 * The signature covers the timestamp, so an old delivery cannot be re-dated; the body's event id
 * is kept (`shop_webhook_receipts`), so a delivery replayed within the window is refused too.
 * Pure: bytes in, a result out (CONVENTIONS.md 6); the comparison takes the same time however
 * much of the signature matches.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying the signature. */
export const WEBHOOK_SIGNATURE_HEADER = 'x-onair-signature';
/** Header carrying the timestamp (epoch seconds). */
export const WEBHOOK_TIMESTAMP_HEADER = 'x-onair-timestamp';
/** Largest webhook body accepted (bytes); fastify answers 413 above it. */
export const WEBHOOK_MAX_BYTES = 256 * 1024;
/** Most reports in one delivery. */
export const WEBHOOK_MAX_EVENTS = 500;

/** The signature header's value for `body` sent at `timestamp` (epoch seconds, as a string). */
export function webhookSignature(secret: string, timestamp: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/** Result of {@link verifyWebhook}. */
export type WebhookVerdict = { ok: true } | { ok: false; reason: string };

/** Check a delivery's timestamp and signature against the courier's secret at `nowMs`. */
export function verifyWebhook(
  secret: string, signature: string | undefined, timestamp: string | undefined, body: Buffer, nowMs: number, toleranceSeconds: number,
): WebhookVerdict {
  if (timestamp === undefined || timestamp.length === 0 || timestamp.length > 12) return { ok: false, reason: `${WEBHOOK_TIMESTAMP_HEADER}: epoch seconds required` };
  for (let i = 0; i < timestamp.length; i++) {
    const c = timestamp.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return { ok: false, reason: `${WEBHOOK_TIMESTAMP_HEADER}: epoch seconds required` };
  }
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return { ok: false, reason: `${WEBHOOK_TIMESTAMP_HEADER}: outside ±${toleranceSeconds} s of now` };
  if (signature === undefined) return { ok: false, reason: `${WEBHOOK_SIGNATURE_HEADER} missing` };
  const expected = Buffer.from(webhookSignature(secret, timestamp, body), 'latin1');
  const given = Buffer.from(signature, 'latin1');
  // Lengths differ only for a malformed header; equal lengths are compared in constant time.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature does not match' };
  return { ok: true };
}
