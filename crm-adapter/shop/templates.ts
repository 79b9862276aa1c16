/**
 * Customer notification templates (docs/shop.md, Notifications): one per life-cycle step and
 * language (zh-CN, en), filled from the order as it is at that step. Pure: the store renders in
 * the transaction of the step, tests render without a database.
 *
 * Variables: `{shop}` the shop's name, `{name}` the customer's name (or a greeting without it),
 * `{order}` the order number, `{items}` the lines (`铸铁炒锅 ×1、围裙 ×1 (赠品)`), `{amount}` the
 * total in yuan from fen (`¥299.00`), `{courier}` the courier's name in the language, `{waybill}`.
 * An e-mail is the subject and the text followed by the itemised lines; an SMS is `【shop】` and
 * the text. Both are bounded ({@link EMAIL_BODY_MAX}, {@link SMS_BODY_MAX}).
 */
import type { OrderAction } from './lifecycle.ts';

/** Languages with templates. */
export const NOTIFY_LANGUAGES = ['zh-CN', 'en'] as const;
/** One of {@link NOTIFY_LANGUAGES}. */
export type NotifyLanguage = (typeof NOTIFY_LANGUAGES)[number];

/** Steps that notify the customer: the order's creation and every life-cycle action but `edit` (an internal correction). */
export const NOTIFY_EVENTS = ['create', 'review', 'ship', 'deliver', 'refuse', 'settle', 'return', 'exchange', 'cancel'] as const satisfies readonly (OrderAction | 'create')[];
/** One of {@link NOTIFY_EVENTS}. */
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** Longest e-mail body (characters); the item list is cut first. */
export const EMAIL_BODY_MAX = 4000;
/** Longest SMS text (characters: about 5 segments of 70 UCS-2 characters). */
export const SMS_BODY_MAX = 350;
/** Longest e-mail subject (characters). */
export const SUBJECT_MAX = 150;

/** A template: subject (e-mail) and text (e-mail body head, SMS). */
export interface NotifyTemplate {
  subject: string;
  text: string;
}

/** The built-in templates. */
export const NOTIFY_TEMPLATES: Readonly<Record<NotifyEvent, Readonly<Record<NotifyLanguage, NotifyTemplate>>>> = {
  create: {
    'zh-CN': { subject: '订单已收到 {order}', text: '{name}您好，您的订单 {order} 已收到：{items}，合计 {amount}。审核后我们会尽快发货。' },
    en: { subject: 'Order {order} received', text: '{name}, we received your order {order}: {items}, total {amount}. We will ship it once it is reviewed.' },
  },
  review: {
    'zh-CN': { subject: '订单已确认 {order}', text: '{name}您好，您的订单 {order}（合计 {amount}）已确认，正在备货。' },
    en: { subject: 'Order {order} confirmed', text: '{name}, your order {order} (total {amount}) is confirmed and being packed.' },
  },
  ship: {
    'zh-CN': { subject: '订单已发货 {order}', text: '{name}您好，您的订单 {order} 已由{courier}发出，运单号 {waybill}，合计 {amount}。' },
    en: { subject: 'Order {order} shipped', text: '{name}, your order {order} has shipped with {courier}, waybill {waybill}, total {amount}.' },
  },
  deliver: {
    'zh-CN': { subject: '订单已签收 {order}', text: '{name}您好，您的订单 {order}（{courier} {waybill}）已签收，感谢您的惠顾！' },
    en: { subject: 'Order {order} delivered', text: '{name}, your order {order} ({courier} {waybill}) was delivered. Thank you!' },
  },
  refuse: {
    'zh-CN': { subject: '订单被拒收 {order}', text: '{name}您好，您的订单 {order}（{courier} {waybill}）被拒收。如有误会，请致电我们。' },
    en: { subject: 'Order {order} refused', text: '{name}, your order {order} ({courier} {waybill}) was refused at delivery. If this is a mistake, please call us.' },
  },
  settle: {
    'zh-CN': { subject: '订单已结清 {order}', text: '{name}您好，您的订单 {order} 已结清，金额 {amount}。' },
    en: { subject: 'Order {order} settled', text: '{name}, your order {order} is settled: {amount}.' },
  },
  return: {
    'zh-CN': { subject: '退货已收到 {order}', text: '{name}您好，订单 {order} 的商品已退回仓库，我们会尽快处理退款。' },
    en: { subject: 'Return of order {order} received', text: '{name}, the goods of order {order} are back at our warehouse; we will process your refund.' },
  },
  exchange: {
    'zh-CN': { subject: '换货已受理 {order}', text: '{name}您好，订单 {order} 的换货已受理，新的包裹发出时会通知您。' },
    en: { subject: 'Exchange of order {order} accepted', text: '{name}, the exchange of order {order} is accepted; we will tell you when the replacement ships.' },
  },
  cancel: {
    'zh-CN': { subject: '订单已取消 {order}', text: '{name}您好，您的订单 {order} 已取消。' },
    en: { subject: 'Order {order} cancelled', text: '{name}, your order {order} has been cancelled.' },
  },
};

/** The language of a customer's `language` (BCP 47): Chinese → zh-CN, any other → en, none → `fallback`. */
export function notifyLanguage(language: string | null, fallback: NotifyLanguage): NotifyLanguage {
  if (language === null || language.length === 0) return fallback;
  const l = language.toLowerCase();
  return l === 'zh' || l.startsWith('zh-') ? 'zh-CN' : 'en';
}

/** What a template is filled with. */
export interface NotifyFacts {
  shop: string;
  name: string | null;
  order: string;
  items: readonly { name: string; quantity: number; gift: boolean; unitPriceFen: number }[];
  totalFen: number;
  courier: string | null;
  waybill: string | null;
}

/** A rendered notification. */
export interface RenderedNotification {
  subject: string;
  /** E-mail body. */
  email: string;
  /** SMS text. */
  sms: string;
}

/** `¥399.00` from fen. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const a = Math.abs(fen);
  return `${sign}¥${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

/** `s` cut to `max` characters with `…`. */
function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Control characters (CR, LF, tabs ...) become spaces: a customer's name cannot start a header line or a fake paragraph. */
function oneLine(s: string): string {
  let out = '';
  for (const ch of s) out += ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f ? ' ' : ch;
  return out;
}

/** Replace `{key}` placeholders (an unknown key stays as written). */
export function fill(template: string, vars: Readonly<Record<string, string>>): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const close = open < 0 ? -1 : template.indexOf('}', open);
    if (open < 0 || close < 0) break;
    const key = template.slice(open + 1, close);
    const v = vars[key];
    out += template.slice(i, open) + (v ?? template.slice(open, close + 1));
    i = close + 1;
  }
  return out + template.slice(i);
}

/** Render the notification of `event` in `lang` from `f`. */
export function renderNotification(event: NotifyEvent, lang: NotifyLanguage, f: NotifyFacts, templates: typeof NOTIFY_TEMPLATES = NOTIFY_TEMPLATES): RenderedNotification {
  const tpl = templates[event][lang];
  const zh = lang === 'zh-CN';
  const giftWord = zh ? '（赠品）' : ' (gift)';
  const itemList = f.items.map((i) => `${oneLine(i.name)} ×${i.quantity}${i.gift ? giftWord : ''}`).join(zh ? '、' : ', ');
  const name = f.name === null || f.name.trim().length === 0 ? (zh ? '' : 'Hello') : oneLine(f.name).slice(0, 64);
  const vars = {
    shop: oneLine(f.shop), name, order: f.order, items: cut(itemList, 120), amount: yuan(f.totalFen),
    courier: f.courier === null ? '' : oneLine(f.courier), waybill: f.waybill ?? '',
  };
  const text = fill(tpl.text, vars);
  const lines = f.items.map((i) => `  ${oneLine(i.name)} ×${i.quantity}  ${i.gift ? giftWord.trim() : yuan(i.unitPriceFen * i.quantity)}`);
  const total = `${zh ? '合计' : 'Total'}: ${yuan(f.totalFen)}`;
  const signature = `— ${vars.shop}`;
  let detail = lines.join('\n');
  const room = EMAIL_BODY_MAX - text.length - total.length - signature.length - 8;
  if (detail.length > room) detail = cut(detail, Math.max(0, room));
  return {
    subject: cut(fill(tpl.subject, vars), SUBJECT_MAX),
    email: cut(`${text}\n\n${detail}\n${total}\n\n${signature}\n`, EMAIL_BODY_MAX),
    sms: cut(`【${vars.shop}】${text}`, SMS_BODY_MAX),
  };
}

/**
 * An e-mail address the shop will send to: `local@domain`, at most 254 characters, one `@`, a
 * domain with a dot and letters, digits, `-` and `.` only, no spaces, control characters or the
 * characters that would make it a display-name or group syntax (`<>()[],;:"\`).
 */
export function isEmailAddress(s: string): boolean {
  if (s.length < 3 || s.length > 254) return false;
  const at = s.indexOf('@');
  if (at < 1 || at !== s.lastIndexOf('@') || at > 64) return false;
  const domain = s.slice(at + 1);
  if (domain.length < 3 || !domain.includes('.') || domain.startsWith('.') || domain.endsWith('.') || domain.includes('..')) return false;
  for (const ch of domain) {
    const c = ch.charCodeAt(0);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || ch === '-' || ch === '.')) return false;
  }
  for (const ch of s.slice(0, at)) {
    const c = ch.charCodeAt(0);
    if (c <= 0x20 || c >= 0x7f || '<>()[],;:"\\'.includes(ch)) return false;
  }
  return true;
}

/** A phone number an SMS can go to: optional `+`, then 6-20 digits. */
export function isSmsNumber(s: string): boolean {
  const digits = s.startsWith('+') ? s.slice(1) : s;
  if (digits.length < 6 || digits.length > 20) return false;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
