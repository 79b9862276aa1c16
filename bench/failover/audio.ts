/**
 * What the failover bench (bench/failover.ts) reads to say whether a bridged call kept its audio:
 * sipp's message traces (`-trace_msg`) of the callers and of the agents' phones, and rtpengine's
 * own view of its sessions (ng `list` and `query` replies). Pure functions over text and decoded
 * replies, so that the verdict is tested without a pair (audio.test.ts).
 *
 * A sipp trace is a run of messages, each after a stamp line (the machine's time zone: UTC here;
 * sipp flushes after every message, so a trace read while sipp runs is current):
 *
 * ```
 *  ----------------------------------------------- 2026-12-07\t13:27:11.123456
 *  UDP message received [612] bytes :
 *  <blank line>
 *  SIP/2.0 200 OK
 *  ...
 * ```
 */
import { z } from 'zod';

/** One message of a sipp trace: when (epoch ms), sent or received, its text. */
export interface Traced {
  at: number;
  sent: boolean;
  text: string;
}

const STAMP = /-{10,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d{3})\d*\s*\n[^\n]*message (sent|received)[^\n]*\n/g;

/** Every message of a sipp trace, in order. */
export function tracedMessages(text: string): Traced[] {
  const out: Traced[] = [];
  let last: { at: number; sent: boolean; start: number } | undefined;
  for (const m of text.matchAll(STAMP)) {
    const index = m.index ?? 0;
    if (last !== undefined) out.push({ at: last.at, sent: last.sent, text: text.slice(last.start, index) });
    last = { at: Date.parse(`${m[1]}T${m[2]}Z`), sent: m[3] === 'sent', start: index + m[0].length };
  }
  if (last !== undefined) out.push({ at: last.at, sent: last.sent, text: text.slice(last.start) });
  return out;
}

/** The start line of a traced message (after sipp's blank line). */
function startLine(text: string): string {
  const s = text.replace(/^\s+/, '');
  const end = s.indexOf('\n');
  return (end < 0 ? s : s.slice(0, end)).trim();
}

/** The value of a header by its name or compact form (`Call-ID` / `i`), or undefined. */
export function header(text: string, name: string, compact: string): string | undefined {
  const m = new RegExp(`\\n(?:${name}|${compact})[ \\t]*:[ \\t]*([^\\r\\n]*)`, 'i').exec(text);
  return m?.[1]?.trim();
}

/** The user part of a From/To header's sip URI (`<sip:+49301...@host>`), or undefined. */
export function headerUser(text: string, name: 'From' | 'To'): string | undefined {
  const v = header(text, name, name === 'From' ? 'f' : 't');
  return v === undefined ? undefined : /sips?:([^@>;]+)@/i.exec(v)?.[1];
}

/** The CSeq method of a message, upper case, or undefined. */
function cseqMethod(text: string): string | undefined {
  return header(text, 'CSeq', 'CSeq')?.split(/\s+/)[1]?.toUpperCase();
}

/** Where an SDP body says to send audio (`c=` address, `m=audio` port), as `address:port`, or undefined. */
export function sdpTarget(text: string): string | undefined {
  const port = /\nm=audio (\d+) /.exec(text)?.[1];
  const address = /\nc=IN IP4 ([0-9.]+)/.exec(text)?.[1];
  return port === undefined || address === undefined || port === '0' ? undefined : `${address}:${port}`;
}

/**
 * Per dialog (Call-ID): where the phone of this trace sends its audio, as the last SDP it received
 * says — the 200 answering its INVITE, or an INVITE (first or re-INVITE) offering new media — among
 * the messages stamped before `before` (epoch ms). A dialog with a BYE (either way) is left out:
 * that phone sends nothing any more (and rtpengine may give its old port to a new call).
 */
export function mediaTargets(messages: readonly Traced[], before = Infinity): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of messages) {
    if (m.at >= before) continue;
    const first = startLine(m.text);
    const callId = header(m.text, 'Call-ID', 'i');
    if (callId === undefined) continue;
    if (first.startsWith('BYE ')) {
      out.delete(callId);
      continue;
    }
    if (m.sent) continue;
    const offer = first.startsWith('INVITE ');
    const answer = first.startsWith('SIP/2.0 200') && cseqMethod(m.text) === 'INVITE';
    const target = offer || answer ? sdpTarget(m.text) : undefined;
    if (target !== undefined) out.set(callId, target);
  }
  return out;
}

/** Per caller number: the Call-ID of the INVITE it sent (the From of its first INVITE). */
export function callerDialogs(messages: readonly Traced[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of messages) {
    if (!m.sent || !startLine(m.text).startsWith('INVITE ')) continue;
    const user = headerUser(m.text, 'From');
    const callId = header(m.text, 'Call-ID', 'i');
    if (user !== undefined && callId !== undefined && !out.has(user)) out.set(user, callId);
  }
  return out;
}

/**
 * Per dialog (Call-ID): when the phone of this trace hung up — its first BYE sent, when no BYE had
 * come to it before (a BYE answered by a BYE of its own is the network's hang-up, not the phone's).
 */
export function hangups(messages: readonly Traced[]): Map<string, number> {
  const out = new Map<string, number>();
  const byeReceived = new Set<string>();
  for (const m of messages) {
    if (!startLine(m.text).startsWith('BYE ')) continue;
    const callId = header(m.text, 'Call-ID', 'i');
    if (callId === undefined) continue;
    if (!m.sent) byeReceived.add(callId);
    else if (!byeReceived.has(callId) && !out.has(callId)) out.set(callId, m.at);
  }
  return out;
}

/** One caller's 200 to its INVITE: when (epoch ms) and from which node (the Contact's host). */
export interface Answer {
  at: number;
  node: string;
}

/** Caller numbers whose INVITE got a 200 (sipp trace of the callers), with the first such 200. */
export function answeredNumbers(messages: readonly Traced[]): Map<string, Answer> {
  const out = new Map<string, Answer>();
  for (const m of messages) {
    if (m.sent || !startLine(m.text).startsWith('SIP/2.0 200') || !/\nCSeq:\s*1 INVITE/i.test(m.text)) continue;
    const from = headerUser(m.text, 'From');
    if (from === undefined || out.has(from)) continue;
    const contact = /\nContact:\s*<sip:[^@>]*@?([0-9.]+)/i.exec(m.text);
    out.set(from, { at: m.at, node: contact?.[1] ?? '?' });
  }
  return out;
}

// ---- rtpengine's view (ng replies, decoded bencode) -----------------------------------------

const listReply = z.object({ result: z.literal('ok'), calls: z.array(z.string().min(1).max(512)).max(100_000) });

/** The call ids of an ng `list` reply, or undefined when the reply is not one. */
export function listedCalls(reply: unknown): string[] | undefined {
  const r = listReply.safeParse(reply);
  return r.success ? r.data.calls : undefined;
}

const stream = z.object({ 'local port': z.number().int().min(1).max(65_535).optional(), flags: z.array(z.string()).optional() }).passthrough();
const queryReply = z.object({
  result: z.literal('ok'),
  tags: z.record(z.string(), z.object({ medias: z.array(z.object({ streams: z.array(stream).optional() }).passthrough()).optional() }).passthrough()),
}).passthrough();

/** The ports rtpengine gave the two phones of a relayed call: each sends its RTP to its own port. */
export interface SessionPorts {
  /** The caller's: the port of the re-INVITE that moved the caller. */
  caller: number;
  /** The agent's. */
  agent: number;
}

/**
 * From an ng `query` reply of a session of the relay (engine/calls/rtpengine-relay.ts names its
 * two parties `caller` and `agent`): the local RTP port of each party's first audio stream (the
 * stream flagged RTP, else the first with a port). Undefined when either is missing.
 */
export function sessionPorts(reply: unknown): SessionPorts | undefined {
  const r = queryReply.safeParse(reply);
  if (!r.success) return undefined;
  const portOf = (tag: string): number | undefined => {
    const streams = r.data.tags[tag]?.medias?.[0]?.streams ?? [];
    return (streams.find((s) => s.flags?.includes('RTP') === true) ?? streams.find((s) => s['local port'] !== undefined))?.['local port'];
  };
  const caller = portOf('caller');
  const agent = portOf('agent');
  return caller === undefined || agent === undefined ? undefined : { caller, agent };
}

// ---- the verdict -----------------------------------------------------------------------------

/** A call bridged at the kill, with what the bench saw of it. */
export interface BridgedCall {
  /** onair's call id. */
  callId: string;
  /** The caller's number (its sipp line), undefined when not known. */
  caller: string | undefined;
  /**
   * rtpengine: its session, where it listens for the caller (`address:port` of the caller's port
   * in its `query`; undefined when the query had none), and whether an agent's phone was sending to
   * the session's agent port at the kill. Undefined with onair's relay.
   */
  session?: { id: string; forCaller: string | undefined; agentOnSession: boolean };
  /** Where the caller's phone sent its audio at the kill (its last SDP), undefined when not known. */
  callerTarget: string | undefined;
  /** When the caller hung up (epoch ms), undefined if not during the run. */
  hungUpAt: number | undefined;
  /** Packets that came back from `callerTarget` during the check window. */
  heard: number;
}

/** The outcome for one call. */
export type CallFate =
  /** The caller hung up before the check window ended: not a call to check. */
  | 'ended'
  /** Both phones' audio went through the relay that outlived the node, and came back. */
  | 'kept'
  /** rtpengine: a phone was not sending where the session listens (a call not yet moved, or a session without ports). */
  | 'not_on_relay'
  /** Sent where it should, but less than half came back. */
  | 'silent';

/** The fate of a call checked in a window that ended at `windowEnd` with `sent` packets sent to each. */
export function fateOf(c: BridgedCall, windowEnd: number, sent: number): CallFate {
  if (c.hungUpAt !== undefined && c.hungUpAt < windowEnd) return 'ended';
  // rtpengine: the bench sends where the caller's phone was told to, and the agent's phone (an
  // echo) answers whoever sends to it — so both phones must have been moved for the echo to count.
  if (c.session !== undefined && !(c.session.forCaller !== undefined && c.callerTarget === c.session.forCaller && c.session.agentOnSession)) return 'not_on_relay';
  // Half of what was sent: the path works (loss on a loaded machine is a quality figure, not this one).
  return sent > 0 && c.heard * 2 >= sent ? 'kept' : 'silent';
}

/** The ratio and its parts over the calls bridged at the kill. */
export interface KeptAudio {
  /** Calls bridged at the kill. */
  bridged: number;
  /** Of those, the ones whose caller had not hung up by the end of the window: the denominator. */
  checked: number;
  kept: number;
  byFate: Record<CallFate, number>;
  /** kept / checked, NaN when no call was left to check. */
  ratio: number;
}

/** `bridged_kept_audio_ratio` over `calls`. */
export function keptAudio(calls: readonly BridgedCall[], windowEnd: number, sent: number): KeptAudio {
  const byFate: Record<CallFate, number> = { ended: 0, kept: 0, not_on_relay: 0, silent: 0 };
  for (const c of calls) byFate[fateOf(c, windowEnd, sent)]++;
  const checked = calls.length - byFate.ended;
  return { bridged: calls.length, checked, kept: byFate.kept, byFate, ratio: checked === 0 ? NaN : Number((byFate.kept / checked).toFixed(3)) };
}
