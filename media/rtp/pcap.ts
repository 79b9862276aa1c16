/**
 * Minimal reader for classic libpcap files holding RTP over UDP/IPv4 (as sipp's
 * `/usr/share/sip-tester/*.pcap`): fixtures for tests and offline checks, not a capture tool.
 */
import { readFileSync } from 'node:fs';

/** One UDP payload from a capture, with its capture time. */
export interface PcapDatagram {
  /** Capture time, ms since the epoch (microsecond precision). */
  timeMs: number;
  /** The UDP payload (an RTP packet for RTP captures); a subarray of the file's bytes. */
  payload: Buffer;
}

/**
 * UDP payloads of a pcap file (link types Ethernet and Linux cooked, IPv4 only; other frames are
 * skipped). Throws on a file that is not pcap: fixtures are trusted input.
 *
 * ```
 * global header (24): magic a1b2c3d4 | version | zone | sigfigs | snaplen | linktype
 * record header (16): seconds | microseconds | captured length | original length, then the frame
 * ```
 */
export function readPcapUdp(file: string): PcapDatagram[] {
  const d = readFileSync(file);
  const magic = d.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4;
  if (!le && magic !== 0xd4c3b2a1) throw new Error(`${file}: not a libpcap file`);
  const u32 = (off: number): number => (le ? d.readUInt32LE(off) : d.readUInt32BE(off));
  const linkType = u32(20);
  const l2 = linkType === 1 ? 14 : linkType === 113 ? 16 : linkType === 101 ? 0 : -1;
  if (l2 < 0) throw new Error(`${file}: link type ${linkType} not supported`);
  const out: PcapDatagram[] = [];
  for (let off = 24; off + 16 <= d.length;) {
    const timeMs = u32(off) * 1000 + u32(off + 4) / 1000;
    const incl = u32(off + 8);
    const frame = d.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    const ip = frame.subarray(l2);
    if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue; // IPv4 + UDP only
    const udp = ip.subarray((ip[0]! & 0x0f) * 4);
    if (udp.length < 8) continue;
    out.push({ timeMs, payload: udp.subarray(8, Math.min(udp.length, udp.readUInt16BE(4))) });
  }
  return out;
}
