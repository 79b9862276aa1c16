/**
 * Shipping documents: each courier's paper as a PDF page (pdfkit), its layout chosen by the
 * courier's `layout` (an EMS-style form, a postal form, a courier waybill); one order a page, one
 * page or a day's batch a file. Chinese names and
 * addresses need a CJK font embedded: Debian's Noto Sans CJK (fonts-noto-cjk). Without it the
 * render is refused with SHOP_ERR_FONT rather than printing boxes a courier cannot read.
 */
import { existsSync } from 'node:fs';
import PDFDocument from 'pdfkit';
import { SHOP_ERRORS, ShopError } from './errors.ts';
import type { Courier, CourierLayout, Order, Shipment } from './types.ts';

/** Debian's Noto Sans CJK collection (fonts-noto-cjk). */
export const DEFAULT_CJK_FONT = '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc';
/** The face in the collection: simplified Chinese glyph forms. */
export const CJK_FONT_FACE = 'NotoSansCJKsc-Regular';

/** Where each layout puts its title and boxes (points, A5 landscape 595 × 420). */
interface LayoutSpec {
  title: (c: Courier) => string;
  /** Box label → [x, y, width]. */
  boxes: Readonly<Record<'to' | 'from' | 'order' | 'waybill' | 'cod' | 'items', readonly [number, number, number]>>;
  /** The frame line width: the forms differ at a glance. */
  frame: number;
}

const LAYOUTS: Readonly<Record<CourierLayout, LayoutSpec>> = {
  ems: {
    title: (c) => `${c.nameZh} 国内特快专递详情单 / ${c.nameEn} Express Mail`,
    boxes: { from: [30, 70, 260], to: [305, 70, 260], order: [30, 200, 260], waybill: [305, 200, 260], cod: [305, 250, 260], items: [30, 290, 535] },
    frame: 2,
  },
  post: {
    title: (c) => `${c.nameZh} 国内普通包裹详情单 / ${c.nameEn} Parcel Form`,
    boxes: { waybill: [30, 70, 535], to: [30, 110, 535], from: [30, 200, 535], order: [30, 260, 260], cod: [305, 260, 260], items: [30, 300, 535] },
    frame: 1,
  },
  waybill: {
    title: (c) => `${c.nameZh} 运单 / ${c.nameEn} Waybill`,
    boxes: { waybill: [30, 70, 260], order: [305, 70, 260], to: [30, 110, 535], from: [30, 200, 260], cod: [305, 200, 260], items: [30, 260, 535] },
    frame: 3,
  },
};

/** The sender printed on every document. */
export interface Sender {
  name: string;
  phone: string;
  address: string;
}

/** Options of {@link renderShippingDocument}. */
export interface ShippingDocumentOptions {
  /** The CJK font file (a TTC with {@link CJK_FONT_FACE}, or a TTF/OTF). Default {@link DEFAULT_CJK_FONT}. */
  fontPath?: string;
  sender: Sender;
}

function yuanText(fen: number): string {
  return `¥${(fen / 100).toFixed(2)}`;
}

/**
 * Why documents cannot be printed with `fontPath` (the file is missing), or null: batch printing
 * asks before it records anything, so no order is marked printed without its paper.
 */
export function missingFont(fontPath: string = DEFAULT_CJK_FONT): string | null {
  return existsSync(fontPath) ? null : `the CJK font ${fontPath} is missing (Debian: apt-get install fonts-noto-cjk): Chinese addresses cannot be printed`;
}

/** One page of a batch: an order, the shipment (or reserved waybill) it goes with, its courier. */
export interface ShippingPage {
  order: Order;
  shipment: Shipment;
  courier: Courier;
}

/** Render `order`'s shipping document for `shipment` by `courier` as PDF bytes. Throws ShopError(SHOP_ERR_FONT) without the font. */
export async function renderShippingDocument(order: Order, shipment: Shipment, courier: Courier, opts: ShippingDocumentOptions): Promise<Buffer> {
  return renderShippingDocuments([{ order, shipment, courier }], opts, { title: `${courier.id} ${shipment.waybill}`, subject: order.id });
}

/**
 * Render several shipping documents into one PDF, one page each in its courier's layout, in the
 * order given (batch printing: one file to send to the printer). The single document is the
 * batch of one, so both print the same page. Throws ShopError(SHOP_ERR_FONT) without the font,
 * RangeError for an empty list (a PDF without pages is not a document).
 */
export async function renderShippingDocuments(
  pages: readonly ShippingPage[], opts: ShippingDocumentOptions, info: { title: string; subject: string },
): Promise<Buffer> {
  if (pages.length === 0) throw new RangeError('no pages to render');
  const fontPath = opts.fontPath ?? DEFAULT_CJK_FONT;
  const missing = missingFont(fontPath);
  if (missing !== null) throw new ShopError(SHOP_ERRORS.font, missing);
  const doc = new PDFDocument({ size: 'A5', layout: 'landscape', margin: 20, autoFirstPage: false, info: { Title: info.title, Subject: info.subject } });
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  try {
    doc.registerFont('cjk', fontPath, fontPath.toLowerCase().endsWith('.ttc') ? CJK_FONT_FACE : undefined);
  } catch (err) {
    doc.end();
    throw new ShopError(SHOP_ERRORS.font, `the CJK font ${fontPath} cannot be used: ${(err as Error).message}`);
  }
  for (const p of pages) {
    doc.addPage({ size: 'A5', layout: 'landscape', margin: 20 });
    drawPage(doc, p, opts.sender);
  }
  doc.end();
  return done;
}

/** Draw one document on the current page. */
function drawPage(doc: InstanceType<typeof PDFDocument>, { order, shipment, courier }: ShippingPage, sender: Sender): void {
  const spec = LAYOUTS[courier.layout];
  doc.font('cjk');
  doc.lineWidth(spec.frame).rect(15, 15, 565, 390).stroke();
  doc.fontSize(15).fillColor('#000000').text(spec.title(courier), 30, 30, { width: 535 });
  const box = (key: keyof LayoutSpec['boxes'], label: string, lines: readonly string[]): void => {
    const [x, y, w] = spec.boxes[key];
    doc.lineWidth(0.5).rect(x - 4, y - 4, w + 8, 14 + lines.length * 15).stroke();
    doc.fontSize(8).fillColor('#555555').text(label, x, y, { width: w });
    doc.fontSize(11).fillColor('#000000');
    lines.forEach((l, i) => doc.text(l, x, y + 11 + i * 15, { width: w, lineBreak: false, ellipsis: true }));
  };
  const a = order.address;
  box('waybill', '运单号 Waybill', [shipment.waybill]);
  box('order', '订单号 Order', [order.id]);
  box('to', '收件人 To', [`${a.recipient}  ${a.phone}`, `${a.region} ${a.city}`, `${a.line}${a.postcode !== null ? `  ${a.postcode}` : ''}`]);
  box('from', '寄件人 From', [`${sender.name}  ${sender.phone}`, sender.address]);
  box('cod', '代收货款 Cash on delivery', [shipment.codFen > 0 ? yuanText(shipment.codFen) : '无 none']);
  const goods = order.items.slice(0, 5).map((i) => `${i.sku} ${i.name} × ${i.quantity}${i.gift ? ' (赠品 gift)' : ''}`);
  if (order.items.length > 5) goods.push(`… +${order.items.length - 5}`);
  box('items', '内件 Contents', goods);
}
