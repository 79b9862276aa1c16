/**
 * One callback port for several dialers (the callback dialer and the campaign dialers): call
 * control has one `callbacks` port; each dialer's ACD entries carry its own id prefix, and the ACD
 * effects of an entry go to the dialer that owns it.
 */
import type { AcdEffect } from '../acd/index.ts';
import type { LegId } from '../../media/index.ts';
import type { CallbackOffers } from '../calls/index.ts';
import type { CallbackDialer } from './dialer.ts';

/** Routes call control's callback effects to the dialer owning each entry. */
export class DialerOffersMux implements CallbackOffers {
  /**
   * `callbacks`: the callback dialer (it alone hears inbound answers: "stop when the customer
   * calls in again" closes callback tasks, not campaign contacts); `others`: the campaign dialers.
   */
  constructor(private readonly callbacks: CallbackDialer, private readonly others: readonly CallbackDialer[]) {}

  private all(): CallbackDialer[] {
    return [this.callbacks, ...this.others];
  }

  /** The owner of an entry; an entry nobody owns goes to the callback dialer, which removes it. */
  private owner(acdId: string): CallbackDialer {
    return this.others.find((d) => d.owns(acdId)) ?? this.callbacks;
  }

  offer(e: Extract<AcdEffect, { type: 'offer' }>): void {
    this.owner(e.callId).offer(e);
  }

  cancelOffer(e: Extract<AcdEffect, { type: 'cancelOffer' }>): void {
    this.owner(e.callId).cancelOffer(e);
  }

  ended(e: Extract<AcdEffect, { type: 'ended' }>): void {
    this.owner(e.callId).ended(e);
  }

  agentFree(agentId: string): void {
    for (const d of this.all()) d.agentFree(agentId);
  }

  inboundAnswered(e: { callId: string; caller: string; at: number }): void {
    this.callbacks.inboundAnswered(e);
  }

  rtpTimeout(leg: LegId): void {
    // Each dialer ignores a leg it does not hold.
    for (const d of this.all()) d.rtpTimeout(leg);
  }

  dtmf(leg: LegId, digit: string): void {
    for (const d of this.all()) d.dtmf(leg, digit);
  }

  playbackDone(leg: LegId, playId: number): void {
    for (const d of this.all()) d.playbackDone(leg, playId);
  }
}
