/** Helpers shared by tests of every layer (real peers, free ports). Not used in production code. */
export { requirePeer, which } from './peers.ts';
export type { PeerTest } from './peers.ts';
export { startSipp, runSipp } from './sipp.ts';
export type { SippOptions, SippResult, SippRun } from './sipp.ts';
export { startBaresip, toneWav } from './baresip.ts';
export type { Baresip, BaresipOptions } from './baresip.ts';
export { freeUdpPort, freeTcpPort } from './ports.ts';
export { selfSignedCertificate, exampleDeployment, EXAMPLE_TLS } from './tls.ts';
