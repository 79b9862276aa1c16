/**
 * An IVR survey on a dialled customer's leg (issue 14: "IVR surveys run without agents"): the
 * survey's steps run in order, prompts played and DTMF questions answered with the same `collect`
 * rule as the inbound IVR (dtmf-steps.ts), each answer kept under the question's variable name.
 * engine/dialer runs one per answered contact of a campaign of mode `ivr`; the leg and its media
 * are the dialer's ({@link DtmfHost}).
 *
 * ```
 *  start ─▶ play ─▶ collect (question) ─▶ answers[into] = digits | null (no valid input) ─▶ ...
 *        ─▶ hangup step (its prompt) or the last step ─▶ onEnd({ answers, completed: true })
 *  the customer hangs up ─▶ abort() ─▶ the answers so far, completed: false
 * ```
 */
import { clearInputTimer, dtmfDigit, dtmfInput, runCollect, type DtmfHost, type DtmfInput } from './dtmf-steps.ts';
import type { Flow, FlowStep } from './types.ts';

/** A survey step: prompts, a question, or the end (with a last prompt). */
export type SurveyStep = Extract<FlowStep, { type: 'play' | 'collect' | 'hangup' }>;

/** Answers by question (the collect step's `into`); null = asked, no valid answer. */
export type SurveyAnswers = Record<string, string | null>;

/** How a survey ended. */
export interface SurveyOutcome {
  answers: SurveyAnswers;
  /** Every step ran (false: the customer hung up, or the media died, before the end). */
  completed: boolean;
}

/** True for the steps a survey may have (config validates surveys with it). */
export function isSurveyStep(step: FlowStep): step is SurveyStep {
  return step.type === 'play' || step.type === 'collect' || step.type === 'hangup';
}

/** One survey on one leg. */
export class SurveyRun {
  private readonly input: DtmfInput = dtmfInput();
  private readonly answers: SurveyAnswers = {};
  private step = -1;
  private ended = false;
  private completed = false;

  /** `onEnd` is called once, when the survey reaches its end (not after {@link abort}). */
  constructor(private readonly flow: Flow, private readonly host: DtmfHost, private readonly onEnd: (o: SurveyOutcome) => void) {
    // Every question is in the answers, asked or not: the CRM sees the whole questionnaire.
    for (const s of flow.steps) if (s.type === 'collect') this.answers[s.into] = null;
  }

  start(): void {
    this.next();
  }

  /** A digit from the customer. */
  digit(digit: string): void {
    if (!this.ended) dtmfDigit(this.input, digit);
  }

  /** The leg is gone: stop, and the answers so far. Idempotent. */
  abort(): SurveyOutcome {
    this.stopInput();
    this.ended = true;
    return { answers: { ...this.answers }, completed: this.completed };
  }

  private stopInput(): void {
    clearInputTimer(this.host, this.input);
    this.input.digits = undefined;
  }

  private finish(): void {
    if (this.ended) return;
    this.stopInput();
    this.ended = true;
    this.completed = true;
    this.onEnd({ answers: { ...this.answers }, completed: true });
  }

  private next(): void {
    if (this.ended) return;
    this.step++;
    const s = this.flow.steps[this.step];
    if (s === undefined) {
      this.finish();
      return;
    }
    switch (s.type) {
      case 'play':
        this.host.play(s.prompts, () => this.next());
        return;
      case 'collect':
        this.input.retries = s.retries;
        runCollect(this.host, this.input, s, {
          got: (value) => {
            this.answers[s.into] = value;
            this.next();
          },
          exhausted: () => this.next(),
        });
        return;
      case 'hangup':
        if (s.prompts.length === 0) this.finish();
        else this.host.play(s.prompts, () => this.finish());
        return;
      default:
        // Not a survey step (the configuration refuses them): the survey ends here.
        this.finish();
    }
  }
}
