/**
 * Every CDR outcome of the CRM contract, as a list: the CDR filter of `GET /api/v1/cdrs` accepts
 * these, and the metrics declare a zero series for each.
 */
import type { CdrOutcome } from '../../crm-adapter/index.ts';

/** Every {@link CdrOutcome}, in the contract's order. */
export const CDR_OUTCOMES = [
  'answered', 'abandoned_queue', 'abandoned_ivr', 'completed_ivr', 'rejected_blacklist', 'rejected_capacity', 'callback_requested', 'released_max_wait',
  'failed',
] as const satisfies readonly CdrOutcome[];
// Fails to compile when the contract gains an outcome this list lacks.
const allOutcomesListed: Exclude<CdrOutcome, (typeof CDR_OUTCOMES)[number]> extends never ? true : false = true;
void allOutcomesListed;
