/**
 * An example third-party CRM adapter module, as a company ships it next to its onair install
 * (docs/crm-adapter.md, "Your own adapter as a module"). Plain JavaScript: the engine imports the
 * file as it is. Configure it with
 *
 *   crm:
 *     adapter: module
 *     module: ./jsonl-crm.mjs
 *     options:
 *       customers: { '+4930555000': { name: 'Ada Muster', vipLevel: 2 }, '+4930666000': { blacklisted: true } }
 *       file: ./var/crm-events.jsonl
 *
 * Callers are looked up in `options.customers`; every call event and CDR is appended to
 * `options.file` as one JSON line, with its delivery id, so a reader can drop the duplicates that
 * at-least-once delivery may bring.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

/** The caller the CRM does not know (every field present, as the contract asks). */
function unknown() {
  return {
    known: false, customerId: null, name: null, vipLevel: 0, blacklisted: false, strikes: 0,
    preferredAgent: null, language: null, lowCredit: false, screenPop: {},
  };
}

/**
 * The factory: the engine calls it with `crm.options` and uses what it returns.
 * @param {{ customers?: Record<string, { name?: string, vipLevel?: number, blacklisted?: boolean }>, file?: string }} options
 */
export default function createAdapter(options) {
  const customers = options.customers ?? {};
  if (typeof options.file !== 'string') throw new Error('jsonl-crm: options.file (the JSON-lines file) is required');
  const file = path.resolve(options.file);
  /** Appends of one adapter go out in order (the engine may deliver different calls at once). */
  let tail = Promise.resolve();
  const write = (record) => {
    tail = tail.then(() => appendFile(file, `${JSON.stringify(record)}\n`));
    return tail;
  };
  return {
    contractVersion: 1,
    name: 'jsonl-crm',
    async init() {
      await mkdir(path.dirname(file), { recursive: true });
    },
    async lookupCaller(number) {
      const c = customers[number];
      if (c === undefined) return unknown();
      return { ...unknown(), known: true, customerId: number, name: c.name ?? null, vipLevel: c.vipLevel ?? 0, blacklisted: c.blacklisted === true };
    },
    async callEvent(event, delivery) {
      await write({ kind: 'event', deliveryId: delivery.deliveryId, event });
    },
    async deliverCdr(cdr, delivery) {
      await write({ kind: 'cdr', deliveryId: delivery.deliveryId, cdr });
    },
    async close() {
      await tail;
    },
  };
}
