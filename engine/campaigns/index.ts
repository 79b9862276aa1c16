/**
 * Outbound campaigns (issue 14): contact lists imported by CSV, worked by a queue's agents in
 * preview, progressive or predictive mode through the callback dialer's runtime, or answering an
 * IVR survey without agents (mode ivr), with dispositions, survey answers and `campaign_result`
 * records. The only door of `engine/campaigns`; see docs/dialer.md.
 */
export { CAMPAIGN_MODES, CampaignStore, MAX_CAMPAIGN_CONTACTS } from './store.ts';
export type { Campaign, CampaignContact, CampaignInput, CampaignMode, CampaignState, CampaignStats, CampaignType, SurveyAnswers } from './store.ts';
export { CampaignRuntime, MAX_IMPORT_CONTACTS, holdBack } from './runtime.ts';
export type { CampaignDialerBase, CampaignRefusal, CampaignRuntimeDeps, HoldBack, ImportReport } from './runtime.ts';
export { parseContactsCsv, renderScript, splitCsvLine, MAX_FIELDS, MAX_FIELD_LENGTH } from './csv.ts';
export type { ContactCsv, ContactRow, LineError } from './csv.ts';
export { CAMPAIGN_MIGRATIONS } from './schema.ts';
