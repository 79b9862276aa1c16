/**
 * Test helpers for the store and for adapters: the engine's fake clock (engine/clock) and builders of realistic CDRs and
 * call events. Not used by the engine itself.
 */
import type { CallEvent, Cdr } from '../../crm-adapter/index.ts';
import { FakeClock as BaseFakeClock } from '../clock/index.ts';

/** The engine's {@link BaseFakeClock}, starting at a realistic epoch time (stored times look real). */
export class FakeClock extends BaseFakeClock {
  constructor(start = Date.UTC(2026, 0, 1)) {
    super(start);
  }
}

/** A complete answered CDR for `callId`; override any field. */
export function sampleCdr(callId: string, overrides: Partial<Cdr> = {}): Cdr {
  const arrivedAt = Date.UTC(2026, 0, 1, 20, 0, 0);
  return {
    contractVersion: 1, callId, caller: '+4930123456', dialled: '100', programme: 'evening-show', airing: '2026-01-01T20:00Z',
    queue: 'orders', agent: '1001', customerId: 'C-1', outcome: 'answered', arrivedAt, ivrExitAt: arrivedAt + 4000,
    queuedAt: arrivedAt + 4000, offeredAt: arrivedAt + 9000, answeredAt: arrivedAt + 12_000, endedAt: arrivedAt + 192_000,
    wrapUpEndAt: arrivedAt + 222_000, waitMs: 12_000, talkMs: 180_000, wrapUpMs: 30_000, offers: 1, releasedBy: 'caller',
    callbackId: null, ...overrides,
  };
}

/** A `queued` event for `callId` (position `n`). */
export function sampleEvent(callId: string, n = 1): CallEvent {
  return {
    type: 'queued', callId, at: Date.UTC(2026, 0, 1, 20, 0, n), caller: '+4930123456', dialled: '100', customerId: null,
    queue: 'orders', position: n, priority: 0,
  };
}
