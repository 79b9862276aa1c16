/** Call control: the B2BUA joining carrier calls, the IVR, the ACD and agents' phones. */
export { CallController } from './controller.ts';
export type { CallControllerDeps, CallMediaStats, CallRecord } from './controller.ts';
export { CALL_PHASE_NEXT, transition, isEnded } from './phase.ts';
export type { CallPhase, Phased } from './phase.ts';
export { CallsError } from './errors.ts';
export type { CallsErrorCode } from './errors.ts';
export { settingsFromConfig, surveysFromConfig, flowStep, DEFAULT_QUEUE_CALL_SETTINGS } from './settings.ts';
export { CachedCallerLookup } from './lookup.ts';
export { Dispositions, type Disposition } from './disposition.ts';
export type { CachedLookupOptions, LookupLogger, LookupObserver, LookupResult } from './lookup.ts';
export { MediaAdmission, DEFAULT_OVERLOAD_POLICY, defaultQueueOf } from './media-admission.ts';
export { mediaCapacity } from './media-capacity.ts';
export type { MediaCapacity, MediaCapacitySettings } from './media-capacity.ts';
export type { ArrivalVerdict, LimitVerdict, MediaAdmissionFigures } from './media-admission.ts';
export { RefusalRecorder, isPlausibleCaller } from './refusals.ts';
export type { RefusalVerdict } from './refusals.ts';
export { parseDtmfInfo, MAX_DTMF_INFO_BYTES } from './dtmf-info.ts';
export type { DtmfInfoResult } from './dtmf-info.ts';
export { agentLocalMedia, answerReinvite, ringAgentPhone, sdpBody, toLegRemote } from './ring.ts';
export type { AgentLocalMedia, AgentRing } from './ring.ts';
export type {
  AgentContact, AgentDeskPort, AgentDirectory, CallbackOffers, CallControlEvent, CallerLookup, CallMedia, CallsSettings, CallUserAgent, DeskAction,
  DeskResult, Flow, FlowStep, MenuAction, NumberRoute, OverloadPolicy, QueueCallSettings, RefusalSettings, RejectReason, TrunkAdmission, TrunkGate,
} from './types.ts';
export { CallRecordings, recordingPolicy, recordsFromAnswer, shareHit, recordingFile, isCallId, recordingPort } from './recording.ts';
export type { RecordingPolicy, RecordingSettings, RecordingAction, RecordingControl, RecordingRefusal, RecordingState, RecordableCall, RecordingMedia, LiveCalls } from './recording.ts';
export { CallMonitor, conferenceOf } from './monitor.ts';
export { CrmQueryRunner, checkQueryResult, queryVariables, readout, readoutPrompts, productPrompt, promptChecker, runQueryStep } from './query.ts';
export type { CrmQuery, CrmQueryOptions, QueryAnswer, QueryAsk, QueryCall, QueryObserver, QueryOutcome, QueryStep, QueryStepResult } from './query.ts';
export { planProducts, runProductMenus } from './products.ts';
export type { ProductsStep, ProductsPlan, ProductChoice, RuntimePromptPort } from './products.ts';
export { notePlayed } from './played.ts';
export type { MonitorDeps, MonitorMode, MonitorRefusal, MonitorStart, MonitoredCall } from './monitor.ts';
export type { ConsultAnswer, ConsultRefusal, ConsultState, ConsultView } from './consult.ts';
export { RtpengineRelay, startRtpengineRelay, AdoptedRelays, RELAY_NEXT, RELAY_FALLBACKS } from './rtpengine-relay.ts';
export type { BridgeRelay, RelayTalk, RelayState, RelayFallback, RelayFigures, RtpengineAddress, RtpengineRelayDeps, RelaySnapshot, RelayedEntry, AdoptedRelaysDeps } from './rtpengine-relay.ts';
export { SurveyRun, isSurveyStep } from './survey.ts';
export type { SurveyAnswers, SurveyOutcome, SurveyStep } from './survey.ts';
export { promptPlaylist } from './dtmf-steps.ts';
export type { DtmfHost } from './dtmf-steps.ts';
