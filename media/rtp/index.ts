/**
 * RTP: packet views (RFC 3550), port allocation, symmetric RTP latching and timeout detection.
 * The only module other folders import from `media/rtp/`.
 *
 * RTCP is ignored, by decision: the allocator reserves RTP port + 1 for it so nothing else lands
 * there, but onair sends no reports and reads none (RTCP that arrives on the RTP port is told
 * apart by `isRtcp()` and dropped). Dead media is detected from RTP itself (`RtpTimeout`), which
 * is what carriers' own RTP timeouts do as well.
 */
export { RTP_HEADER_SIZE, RTP_VERSION, RtpView, writeRtpHeader, isRtcp } from './packet.ts';
export type { RtpCheck } from './packet.ts';
export { PortAllocator } from './ports.ts';
export { LatchingPeer, RtpTimeout } from './peer.ts';
export type { LatchingOptions, RtpTimeoutState } from './peer.ts';
export { readPcapUdp } from './pcap.ts';
export type { PcapDatagram } from './pcap.ts';
