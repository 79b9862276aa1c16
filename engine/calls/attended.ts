/**
 * Attended transfer (issue 16): the `Replaces` header (RFC 3891) a phone puts in the Refer-To of a
 * REFER (`<sip:B@onair?Replaces=<call-id>%3Bto-tag%3D..%3Bfrom-tag%3D..>`), parsed and matched
 * against the dialogs a call owns. Both are pure and never throw: the value is network input,
 * %-escaped inside a URI header, and any malformed one is `null` (the REFER gets 400).
 *
 * The consultation (onair calling agent B while the caller is held) is consult.ts; its
 * `referred` matches a well-formed Replaces with {@link matchReplaces} among the call's
 * consultation dialogs (481 / 486 when it names none).
 */
import type { SipUri } from '../sip/index.ts';
import { unescapeUri } from '../sip/index.ts';

/** A parsed Replaces header (RFC 3891 §6.1). Tags are as the recipient of the Replaces sees the dialog. */
export interface Replaces {
  callId: string;
  /** The tag of the UA that receives the Replaces (its local tag). */
  toTag: string;
  /** The tag of the other party of that dialog (the recipient's remote tag). */
  fromTag: string;
  /** `early-only`: replace the dialog only while it is early (§3). */
  earlyOnly: boolean;
}

/** The longest Replaces value we look at (a phone's is under 200 bytes). */
export const MAX_REPLACES = 400;

/** What the Refer-To's URI says about Replaces. */
export type ReplacesInUri =
  | { kind: 'none' }
  | { kind: 'malformed' }
  | { kind: 'replaces'; replaces: Replaces };

/** RFC 3261 §25.1 `token` characters besides alphanumerics. */
const TOKEN_EXTRA = "-.!%*_+`'~";
/** RFC 3261 §25.1 `word` characters besides alphanumerics and token's (Call-ID halves). */
const WORD_EXTRA = '()<>:\\"/[]?{}';

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && !TOKEN_EXTRA.includes(s[i]!)) return false;
  }
  return true;
}

function isWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAlnum(c) && !TOKEN_EXTRA.includes(s[i]!) && !WORD_EXTRA.includes(s[i]!)) return false;
  }
  return true;
}

/** `callid = word [ "@" word ]` (RFC 3261 §25.1). */
function isCallId(s: string): boolean {
  const at = s.indexOf('@');
  if (at < 0) return isWord(s);
  return isWord(s.slice(0, at)) && isWord(s.slice(at + 1));
}

/**
 * Parse a Replaces value, already %-unescaped: `callid *( SEMI replaces-param )` with exactly one
 * `to-tag` and one `from-tag` (RFC 3891 §6.1 and §3: a Replaces without both is malformed),
 * optional `early-only`, other generic parameters ignored. Linear white space around `;` and `=`
 * is allowed (SEMI, EQUAL). Null for anything else.
 */
export function parseReplaces(value: string): Replaces | null {
  if (value.length === 0 || value.length > MAX_REPLACES) return null;
  const parts = value.split(';');
  const callId = parts[0]!.trim();
  if (!isCallId(callId)) return null;
  let toTag: string | undefined;
  let fromTag: string | undefined;
  let earlyOnly = false;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? null : p.slice(eq + 1).trim();
    if (!isToken(name)) return null;
    if (val !== null && !isToken(val)) return null; // generic-param values may be quoted; no phone sends one here
    if (name === 'to-tag' || name === 'from-tag') {
      if (val === null || (name === 'to-tag' ? toTag : fromTag) !== undefined) return null;
      if (name === 'to-tag') toTag = val;
      else fromTag = val;
    } else if (name === 'early-only') {
      if (val !== null) return null;
      earlyOnly = true;
    }
  }
  if (toTag === undefined || fromTag === undefined) return null;
  return { callId, toTag, fromTag, earlyOnly };
}

/**
 * The Replaces of a Refer-To URI (its `?Replaces=` header, name case-insensitive, value
 * %-unescaped once). Two Replaces headers are malformed, like a value {@link parseReplaces} refuses.
 */
export function replacesInUri(uri: Pick<SipUri, 'headers'>): ReplacesInUri {
  let found: string | undefined;
  for (const [name, value] of uri.headers) {
    if (unescapeUri(name).toLowerCase() !== 'replaces') continue;
    if (found !== undefined) return { kind: 'malformed' };
    found = value;
  }
  if (found === undefined) return { kind: 'none' };
  const replaces = parseReplaces(unescapeUri(found));
  return replaces === null ? { kind: 'malformed' } : { kind: 'replaces', replaces };
}

/** A dialog as the recipient of a Replaces sees it (its local tag is the Replaces' to-tag). */
export interface DialogId {
  callId: string;
  localTag: string;
  remoteTag: string;
  /** The dialog is early (not yet confirmed by a 2xx). */
  early: boolean;
}

/** Why a Replaces names no dialog we may replace (RFC 3891 §3). */
export type ReplacesMismatch =
  /** No dialog of this call has that Call-ID and tags: 481. */
  | 'noDialog'
  /** `early-only` but the dialog is confirmed: 486. */
  | 'notEarly';

/** RFC 3891 §3's answer to each mismatch. */
export const REPLACES_MISMATCH_STATUS: Readonly<Record<ReplacesMismatch, { status: number; reason: string }>> = {
  noDialog: { status: 481, reason: 'Call/Transaction Does Not Exist' },
  notEarly: { status: 486, reason: 'Busy Here' },
};

/**
 * Find the dialog a Replaces names among `owned` (the consultation dialogs of the same call):
 * Call-ID compared exactly, tags exactly (RFC 3261 §12: tags are opaque, case-sensitive). A
 * Replaces naming a dialog of another call is `noDialog`, like one naming nothing.
 */
export function matchReplaces<D extends DialogId>(r: Replaces, owned: readonly D[]):
  { ok: true; dialog: D } | { ok: false; mismatch: ReplacesMismatch } {
  for (const d of owned) {
    if (d.callId !== r.callId || d.localTag !== r.toTag || d.remoteTag !== r.fromTag) continue;
    if (r.earlyOnly && !d.early) return { ok: false, mismatch: 'notEarly' };
    return { ok: true, dialog: d };
  }
  return { ok: false, mismatch: 'noDialog' };
}
