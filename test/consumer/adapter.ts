/**
 * What a third-party adapter developer writes, importing nothing but the package: type-checked by
 * package.test.ts against the declarations `npm run build` emits. The `@ts-expect-error` lines
 * fail the check if the types resolve to `any` (a missing or broken `types` export).
 */
import { CONTRACT_VERSION, startEngine, unknownCaller } from 'onair';
import type { CallerInfo, CallEvent, Cdr, Config, CrmAdapter, DeliveryInfo, Engine, LookupContext } from 'onair';

export class TinyAdapter implements CrmAdapter {
  readonly contractVersion = CONTRACT_VERSION;
  readonly name = 'tiny';
  readonly seen: string[] = [];
  async init(): Promise<void> {}
  async lookupCaller(number: string, ctx: LookupContext): Promise<CallerInfo> {
    return ctx.signal.aborted ? unknownCaller() : { ...unknownCaller(), known: true, name: `caller ${number}` };
  }
  async callEvent(event: CallEvent, delivery: DeliveryInfo): Promise<void> {
    this.seen.push(`${event.type} ${delivery.deliveryId}`);
  }
  async deliverCdr(cdr: Cdr): Promise<void> {
    this.seen.push(`${cdr.callId} ${cdr.outcome}`);
  }
  async close(): Promise<void> {}
}

export async function embed(config: Config): Promise<Engine> {
  return startEngine(config);
}

// @ts-expect-error an adapter without the contract's methods is refused
export const broken: CrmAdapter = { contractVersion: CONTRACT_VERSION, name: 'broken' };

// @ts-expect-error the contract version is the literal 1, not any number
export const wrongVersion: CrmAdapter['contractVersion'] = 2;
