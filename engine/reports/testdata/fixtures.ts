/**
 * Hand-written call records of one evening (2026-01-01 20:00 UTC) with figures computed by hand
 * in the test beside them (engine/reports/reports.test.ts). Source: written for this repository;
 * each record exercises one rule of docs/reports.md.
 */
import type { Cdr } from '../../../crm-adapter/index.ts';
import type { AgentStateChange, MeasureContext, ReportCdr } from '../index.ts';

/** 2026-01-01 20:00:00 UTC: the start of the first bucket. */
export const T = Date.UTC(2026, 0, 1, 20, 0, 0);

function cdr(callId: string, o: Partial<ReportCdr>): ReportCdr {
  const base: Cdr = {
    contractVersion: 1, callId, caller: '+8613800000000', dialled: '400100', programme: 'kitchen', airing: 'kitchen-2000',
    queue: 'orders', agent: null, customerId: null, outcome: 'answered', arrivedAt: T, ivrExitAt: null, queuedAt: null,
    offeredAt: null, answeredAt: null, endedAt: T, wrapUpEndAt: null, waitMs: 0, talkMs: 0, wrapUpMs: 0, offers: 0,
    releasedBy: 'caller', callbackId: null, direction: 'inbound', treatment: 'media', ringingMs: 0, variables: {},
  };
  return { ...base, ...o };
}

/** Service-level thresholds: orders 20 s, service 30 s. Callback task 7 first arrived at T+300 s. */
export const context: MeasureContext = {
  serviceLevelMs: (q) => (q === 'service' ? 30_000 : 20_000),
  callbackArrivedAt: (id) => (id === 7 ? T + 300_000 : null),
};

/** The agents' teams. */
export const teamOf = (agent: string): string | null => (agent === '1001' || agent === '1002' ? 'sales' : null);

/** The records (c1..c9 in bucket 20:00, c10 in 20:15). */
export const records: ReportCdr[] = [
  // answered in 10 s of queue wait (in SL), 180 s talk incl. 20 s hold, 30 s ACW, one transfer
  cdr('c1', { agent: '1001', arrivedAt: T, queuedAt: T + 4000, offeredAt: T + 10_000, answeredAt: T + 14_000, endedAt: T + 194_000, talkMs: 180_000, wrapUpMs: 30_000, holdMs: 20_000, transfers: 1 }),
  // answered after 30 s (out of the 20 s SL), no hold fields at all
  cdr('c2', { agent: '1002', arrivedAt: T + 60_000, queuedAt: T + 65_000, answeredAt: T + 95_000, endedAt: T + 155_000, talkMs: 60_000, wrapUpMs: 10_000 }),
  // hung up after 45 s in the queue, 50 s after arrival
  cdr('c3', { outcome: 'abandoned_queue', arrivedAt: T + 120_000, queuedAt: T + 125_000, endedAt: T + 170_000 }),
  // hung up in the IVR after 8 s, no queue
  cdr('c4', { outcome: 'abandoned_ivr', queue: null, arrivedAt: T + 200_000, endedAt: T + 208_000 }),
  // held in 180 Ringing (media full) 6 s and hung up there; became callback task 7
  cdr('c5', { outcome: 'abandoned_queue', arrivedAt: T + 300_000, queuedAt: T + 300_000, endedAt: T + 306_000, treatment: 'ringing', ringingMs: 6000, callbackId: 7 }),
  // blacklisted, no queue
  cdr('c6', { outcome: 'rejected_blacklist', queue: null, arrivedAt: T + 400_000, endedAt: T + 400_000, treatment: 'refused' }),
  // refused for capacity
  cdr('c7', { outcome: 'rejected_capacity', queue: null, arrivedAt: T + 410_000, endedAt: T + 410_000, treatment: 'refused' }),
  // the callback of task 7, reached at T+620 s (320 s after the first arrival), agent 1001
  cdr('c8', { direction: 'outbound', agent: '1001', callbackId: 7, programme: null, airing: null, arrivedAt: T + 600_000, answeredAt: T + 620_000, endedAt: T + 680_000, talkMs: 60_000, wrapUpMs: 5000, treatment: undefined }),
  // queue service (30 s SL): answered after 25 s, in its SL (it would not be in orders' 20 s)
  cdr('c9', { queue: 'service', agent: '1002', programme: 'garden', airing: 'garden-2000', arrivedAt: T + 700_000, queuedAt: T + 702_000, answeredAt: T + 727_000, endedAt: T + 787_000, talkMs: 60_000, wrapUpMs: 0 }),
  // next bucket: answered at once by 1001
  cdr('c10', { agent: '1001', arrivedAt: T + 910_000, queuedAt: T + 912_000, answeredAt: T + 917_000, endedAt: T + 977_000, talkMs: 60_000, wrapUpMs: 3000 }),
];

/** Agent 1001's day: states between T and T+960 s (see the test for the hand-computed time). */
export const agentChanges: AgentStateChange[] = [
  { agentId: '1001', at: T, status: 'available', state: 'idle', reason: null },
  { agentId: '1001', at: T + 10_000, status: 'available', state: 'reserved', reason: null },
  { agentId: '1001', at: T + 14_000, status: 'available', state: 'onCall', reason: null },
  { agentId: '1001', at: T + 194_000, status: 'available', state: 'wrapUp', reason: null },
  { agentId: '1001', at: T + 224_000, status: 'available', state: 'idle', reason: null },
  { agentId: '1001', at: T + 300_000, status: 'notReady', state: 'idle', reason: 'lunch' },
  { agentId: '1001', at: T + 600_000, status: 'available', state: 'idle', reason: null },
  { agentId: '1001', at: T + 960_000, status: 'loggedOut', state: 'idle', reason: null },
];
