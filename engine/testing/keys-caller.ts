/**
 * A sipp caller that keys any digits by SIP INFO (application/dtmf-relay, as many carriers send
 * them): INVITE, answered, a pause of `-d` ms, then one INFO per key 200 ms apart, then it waits up
 * to `byeWithinMs` for the engine's BYE (the flow hanging up after its last prompt) and fails
 * otherwise. sipp cannot loop over the characters of a field, so the scenario is written per test.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const XML_HEAD = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="caller keys digits by SIP INFO">`;

// An ACK gets no response: sipp would retransmit it until its timeout with `retrans`.
const request = (method: string, cseq: number, extra: string, body: string): string => `  <send${method === 'ACK' ? '' : ' retrans="500"'}>
    <![CDATA[

      ${method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[field0]@[local_ip]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>${method === 'INVITE' ? '' : '[peer_tag_param]'}
      Call-ID: [call_id]
      CSeq: ${cseq} ${method}
      Max-Forwards: 70
${extra}      Content-Length: ${body === '' ? '0' : '[len]'}
${body === '' ? '' : `\n${body}`}
    ]]>
  </send>`;

const SDP = `      v=0
      o=caller 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16`;

/**
 * Write the scenario for `keys` (0-9, *, #) into `dir` and return its path. With `hangUpAfterMs`
 * the caller hangs up itself that long after its last key (a caller put through to an agent)
 * instead of waiting for the engine's BYE.
 */
export function keysCallerScenario(dir: string, keys: string, byeWithinMs: number, opts: { hangUpAfterMs?: number } = {}): string {
  for (const k of keys) if (!'0123456789*#'.includes(k)) throw new Error(`not a DTMF key: ${k}`);
  const parts = [XML_HEAD];
  parts.push(request('INVITE', 1, '      Contact: <sip:[field0]@[local_ip]:[local_port]>\n      Content-Type: application/sdp\n', SDP));
  parts.push('  <recv response="100" optional="true"/>\n  <recv response="183" optional="true"/>\n  <recv response="200"/>');
  parts.push(request('ACK', 1, '', ''));
  parts.push('  <pause/>');
  let cseq = 2;
  for (const k of keys) {
    parts.push(request('INFO', cseq++, '      Content-Type: application/dtmf-relay\n', `      Signal=${k}\n      Duration=160`));
    parts.push('  <recv response="200"/>\n  <pause milliseconds="200"/>');
  }
  if (opts.hangUpAfterMs !== undefined) {
    parts.push(`  <pause milliseconds="${opts.hangUpAfterMs}"/>`);
    parts.push(request('BYE', cseq, '', ''));
    parts.push('  <recv response="200"/>\n</scenario>\n');
    const file = path.join(dir, `caller-keys-${keys.replaceAll('#', 'H').replaceAll('*', 'S')}-bye.xml`);
    writeFileSync(file, parts.join('\n'), 'latin1');
    return file;
  }
  parts.push(`  <recv request="BYE" timeout="${byeWithinMs}"/>`);
  parts.push(`  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
`);
  const file = path.join(dir, `caller-keys-${keys.replaceAll('#', 'H').replaceAll('*', 'S')}.xml`);
  writeFileSync(file, parts.join('\n'), 'latin1');
  return file;
}
