/**
 * The DTMF input steps of a flow, `menu` and `collect`, as one rule for every leg that runs them:
 * an inbound caller in the IVR (controller.ts) and a campaign customer answering an IVR survey
 * (survey.ts, dialled by engine/dialer). The leg's owner provides the prompts and the barge-in
 * ({@link DtmfHost}); the input state ({@link DtmfInput}) is the owner's, so digits keyed before a
 * step listens (type-ahead) carry from one step to the next.
 *
 * ```
 *  menu:    [type-ahead digit] ─▶ option? ─▶ choose(action)
 *           prompt ─▶ timeout / invalid digit ─▶ retries left? ─▶ invalid prompt ─▶ menu again
 *                                                └─ none ─▶ exhausted()
 *  collect: type-ahead digits, prompt (the first digit stops it) ─▶ digits until the terminator,
 *           maxDigits or the inter-digit timeout ─▶ valid? ─▶ got(value)
 *           no input / invalid ─▶ retries left? ─▶ (invalid prompt) ─▶ collect again └─ exhausted()
 * ```
 */
import type { Clock, TimerHandle } from '../sip/index.ts';
import type { Playlist } from '../../media/index.ts';
import type { FlowStep, MenuAction } from './types.ts';

/** A DTMF menu step. */
export type MenuStep = Extract<FlowStep, { type: 'menu' }>;
/** A multi-digit collect step. */
export type CollectStep = Extract<FlowStep, { type: 'collect' }>;

/**
 * What {@link runMenu} needs of a menu: a flow's menu step, or a menu made at run time (the
 * products step's list and product menus, products.ts) whose options are its own choices.
 */
export interface MenuOf<A> {
  prompts: readonly string[];
  options: Readonly<Record<string, A>>;
  timeoutMs: number;
  invalidPrompts: readonly string[];
}

/** Most digits kept for type-ahead: a caller who knows the menu presses one or two. */
export const TYPE_AHEAD_MAX = 4;

/** The input state of one leg in a flow (owned by the leg's owner, changed here). */
export interface DtmfInput {
  /** Attempts left in the current step. */
  retries: number;
  timer: TimerHandle | undefined;
  /** The listening step's digit handler; undefined while no step listens. */
  digits: ((digit: string) => void) | undefined;
  /** Digits pressed before a step listened (type-ahead during a greeting), oldest first. */
  typeAhead: string[];
}

/** What a step needs from the leg's owner. */
export interface DtmfHost {
  clock: Pick<Clock, 'setTimer' | 'clearTimer'>;
  /** Play prompts (names without the language) to the leg; `then` when they have played to the end. */
  play(prompts: readonly string[], then: () => void): void;
  /** Barge-in: stop the prompt playing now, and forget what was to follow it. */
  stopPrompt(): void;
}

/** Prompts of a step as a playlist: a name without a language (`welcome`) is the leg's language's. */
export function promptPlaylist(language: string, names: readonly string[]): Playlist {
  return { items: names.map((n) => ({ kind: 'prompt' as const, name: n.includes('/') ? n : `${language}/${n}` })) };
}

/** A new input state (the type-ahead of an earlier flow carried over). */
export function dtmfInput(typeAhead: string[] = []): DtmfInput {
  return { retries: 0, timer: undefined, digits: undefined, typeAhead };
}

/** Stop the step's timer. */
export function clearInputTimer(host: DtmfHost, input: DtmfInput): void {
  if (input.timer !== undefined) host.clock.clearTimer(input.timer);
  input.timer = undefined;
}

/**
 * A digit from the leg (RFC 4733, in-band, or SIP INFO): to the listening step, else kept as
 * type-ahead (up to {@link TYPE_AHEAD_MAX}). False when neither took it (the owner may use it).
 */
export function dtmfDigit(input: DtmfInput, digit: string): boolean {
  if (input.digits) {
    input.digits(digit);
    return true;
  }
  if (input.typeAhead.length < TYPE_AHEAD_MAX) {
    input.typeAhead.push(digit);
    return true;
  }
  return false;
}

/**
 * Run a menu: the prompt, then a digit chooses an option. A timeout or a digit with no option
 * repeats it (after the invalid prompt) while `input.retries` lasts, then `exhausted`. The caller
 * sets `input.retries = step.retries` when the step starts (a repeat keeps the count).
 */
export function runMenu<A = MenuAction>(host: DtmfHost, input: DtmfInput, step: MenuOf<A>, on: { choose(action: A): void; exhausted(): void }): void {
  const choose = (action: A): void => {
    clearInputTimer(host, input);
    input.digits = undefined;
    on.choose(action);
  };
  const retry = (): void => {
    clearInputTimer(host, input);
    if (input.retries-- <= 0) {
      input.digits = undefined;
      on.exhausted();
      return;
    }
    host.play(step.invalidPrompts, () => runMenu(host, input, step, on));
  };
  input.digits = (digit) => {
    const action = Object.hasOwn(step.options, digit) ? step.options[digit] : undefined;
    if (action !== undefined) choose(action);
    else retry();
  };
  // A caller who knows the menu may have pressed during the greeting: act on it at once.
  const early = input.typeAhead.shift();
  if (early !== undefined) {
    input.digits(early);
    return;
  }
  host.play(step.prompts, () => {
    // The prompt ended without a choice: wait for one.
    input.timer = host.clock.setTimer(step.timeoutMs, retry);
  });
}

/**
 * Multi-digit input: the prompt (a first digit stops it), then digits until the terminator,
 * maxDigits or the inter-digit timeout. Too short or not matching the pattern is invalid; no input
 * or invalid input repeats the prompt while `input.retries` lasts, then `exhausted` (the flow goes
 * on without the value). The caller sets `input.retries = step.retries` when the step starts.
 */
export function runCollect(host: DtmfHost, input: DtmfInput, step: CollectStep, on: { got(value: string): void; exhausted(): void }): void {
  let got = '';
  let prompting = true;
  const again = (invalid: boolean): void => {
    clearInputTimer(host, input);
    input.digits = undefined;
    if (input.retries-- <= 0) {
      on.exhausted();
      return;
    }
    const sorry = invalid ? step.invalidPrompts : [];
    if (sorry.length === 0) runCollect(host, input, step, on);
    else host.play(sorry, () => runCollect(host, input, step, on));
  };
  const done = (): void => {
    clearInputTimer(host, input);
    input.digits = undefined;
    if (got.length < step.minDigits || (step.pattern !== null && !step.pattern.test(got))) {
      again(true);
      return;
    }
    on.got(got);
  };
  const handler = (digit: string): void => {
    if (step.terminator !== null && digit === step.terminator) {
      done();
      return;
    }
    if (digit < '0' || digit > '9') return; // * or # that is no terminator: not part of a number
    if (prompting) {
      // Barge-in: the caller knows what to key; the rest of the prompt would only talk over it.
      prompting = false;
      host.stopPrompt();
    }
    got += digit;
    if (got.length >= step.maxDigits) {
      done();
      return;
    }
    clearInputTimer(host, input);
    input.timer = host.clock.setTimer(step.interDigitTimeoutMs, done);
  };
  input.digits = handler;
  // Digits keyed during an earlier prompt count (type-ahead), as they do for a menu.
  while (input.typeAhead.length > 0 && input.digits === handler) handler(input.typeAhead.shift()!);
  if (input.digits !== handler || got.length > 0) return;
  host.play(step.prompts, () => {
    prompting = false;
    if (got.length === 0) input.timer = host.clock.setTimer(step.firstDigitTimeoutMs, () => again(false));
  });
}
