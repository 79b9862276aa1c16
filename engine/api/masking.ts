/**
 * Callers' numbers as a masked role sees them (engine/users' `maskNumber`: `138****5678`). The
 * engine masks, not the browser (CONVENTIONS.md 22): the whole number never reaches a masked
 * role's socket.
 */
import { maskNumber } from '../users/index.ts';
import type { CallSummary } from './types.ts';
import type { WireCtiEvent } from './views.ts';

/** A call in progress with the caller masked. */
export function maskedCall(c: CallSummary): CallSummary {
  return { ...c, caller: maskNumber(c.caller) };
}

/** An event with every caller number masked (events without one are returned as they are). */
export function maskedEvent(e: WireCtiEvent): WireCtiEvent {
  switch (e.type) {
    case 'call.offered':
    case 'call.queued':
    case 'callback.created':
    case 'callback.preview':
      return { ...e, caller: maskNumber(e.caller) };
    default:
      return e;
  }
}
