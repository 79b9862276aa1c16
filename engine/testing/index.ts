/** Helpers shared by tests of every layer (real peers, free ports). Not used in production code. */
export { requirePeer, which } from './peers.ts';
export type { PeerTest } from './peers.ts';
export { startSipp, runSipp } from './sipp.ts';
export type { SippOptions, SippResult, SippRun } from './sipp.ts';
export { startBaresip, toneWav } from './baresip.ts';
export type { Baresip, BaresipOptions } from './baresip.ts';
export { freeUdpPort, freeTcpPort } from './ports.ts';
export { selfSignedCertificate, exampleDeployment, EXAMPLE_TLS } from './tls.ts';
export { startKamailio, requireKamailio, kamailioConfig, checkKamailioConfig, KAMAILIO_CFG } from './kamailio.ts';
export type { KamailioProxy, KamailioOptions } from './kamailio.ts';
export { bindable, haRole, spawnHaNode } from './ha-pair.ts';
export type { HaNodeProcessOptions } from './ha-pair.ts';
export { startRtpengine, rtpengineArgs } from './rtpengine.ts';
export type { Rtpengine, RtpengineOptions } from './rtpengine.ts';
