/**
 * The SIP stack's public door (CONVENTIONS.md 1). Layers, bottom up:
 * message/parser/serializer → transport → transaction → dialog → user agent.
 * The stack knows nothing about calls, queues or media.
 */
export type {
  SipMessage, SipRequest, SipResponse, SipUri, NameAddr, Via, CSeq, AuthHeader, HeaderField, Headers,
  Params, ParamValue,
} from './message.ts';
export { createRequest, createResponse, reasonPhrase, toByteString, fromByteString } from './message.ts';
export type { RequestInit, ResponseOptions } from './message.ts';
export { parse } from './parser.ts';
export type { ParseResult, ParseOptions, ParseErrorCode, ParseFailure } from './parser.ts';
export { serialize } from './serializer.ts';
export { parseUri, formatUri, uriEquals, parseNameAddr, parseNameAddrListInto, formatNameAddr, formatParams, unescapeUri } from './uri.ts';
export { StreamFramer } from './framer.ts';
export type { FramerEvent, StreamFramerOptions } from './framer.ts';
export type { Endpoint, Inbound, TransportName, TransportSender, Clock, TimerHandle, TimerValues } from './contracts.ts';
export { systemClock, defaultTimers } from './contracts.ts';
export { TransportLayer, defaultTransportLimits, CONNECTION_REFUSALS } from './transport.ts';
export type { ListenSpec, TransportLimits, TransportDelegate, TransportObserver, ConnectionRefusal } from './transport.ts';
export { TransactionLayer } from './transaction-layer.ts';
export type { TransactionUser, TransactionLayerOptions, AdmissionPort, OverloadCause } from './transaction-layer.ts';
export { SourceAdmission, defaultAdmissionLimits, ADMISSION_DROP_KINDS, sourceKey } from './admission.ts';
export type { AdmissionLimits, AdmissionDropKind, AdmissionVerdict, SourceCeiling, SourceAdmissionOptions, AdmissionLogger } from './admission.ts';
export type { ClientTransaction, ClientTransactionUser, InviteClientTransaction, NonInviteClientTransaction } from './transaction-client.ts';
export type { ServerTransaction, InviteServerTransaction, NonInviteServerTransaction } from './transaction-server.ts';
export { responseDestination, stampVia } from './transaction.ts';
export { formatVia, canonicalName, SipHeaders, MissingHeaderError, isValidSentBy, isHostSyntax } from './headers.ts';
export { SIP_DROP_REASONS, LogRateLimit, firstLine, isSendable, sendError } from './errors.ts';
export type { SipDropReason, SipSendErrorCode, SipLogger } from './errors.ts';
export type { TransactionState } from './transaction.ts';
export { newBranch, newTag, newCallId, isRfc3261Branch } from './branch.ts';
export { Dialog, dialogKey } from './dialog.ts';
export type { DialogState, SessionTimer, DialogSnapshot } from './dialog.ts';
export { checkRequest, defaultCapabilities } from './ua-checks.ts';
export type { UaCapabilities, CheckResult } from './ua-checks.ts';
export { UserAgent, IncomingRequest, IncomingInvite, resolveUri } from './ua.ts';
export type {
  UserAgentOptions, RespondOptions, DialogDelegate, OutgoingInvite, OutgoingInviteDelegate, InviteOptions,
  RequestOptions, UasDelegate, Credentials,
} from './ua.ts';
export { DigestChallenger, answerChallenge, computeHa1, digestResponse } from './digest.ts';
export type { DigestAlgorithm, DigestChallengerOptions, DigestCredentials, DigestVerdict, DigestUser, DigestAnswer } from './digest.ts';
export { InboundClasses, classOfInbound } from './inbound-classes.ts';
export type { InboundDispatcher } from './transport.ts';
