/**
 * Loopback peers for the shop's customer notifications (docs/shop.md, Notifications): a real SMTP
 * server (the `smtp-server` package) that parses each message it receives (headers unfolded,
 * RFC 2047 encoded words and the body's quoted-printable or base64 decoded), and an HTTP SMS
 * gateway that records each JSON POST. Either can be down (not listening; or answering 503) and
 * come back on the same port, as an outage does.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { freeTcpPort } from './ports.ts';

/** A message the SMTP peer received. */
export interface ReceivedMail {
  /** Envelope sender and recipients (MAIL FROM, RCPT TO). */
  from: string;
  to: string[];
  /** Header fields, lower-case names, unfolded, encoded words decoded. */
  headers: Record<string, string>;
  subject: string;
  /** The text body, decoded. */
  text: string;
  raw: string;
}

/** Decode RFC 2047 encoded words (`=?UTF-8?B?...?=`, `=?UTF-8?Q?...?=`); whitespace between two words is dropped. */
export function decodeWords(s: string): string {
  let out = '';
  let i = 0;
  let lastWasWord = false;
  while (i < s.length) {
    const start = s.indexOf('=?', i);
    if (start < 0) {
      out += s.slice(i);
      break;
    }
    const q1 = s.indexOf('?', start + 2);
    const q2 = q1 < 0 ? -1 : s.indexOf('?', q1 + 1);
    const end = q2 < 0 ? -1 : s.indexOf('?=', q2 + 1);
    if (end < 0) {
      out += s.slice(i);
      break;
    }
    const between = s.slice(i, start);
    if (!(lastWasWord && between.trim().length === 0)) out += between;
    const enc = s.slice(q1 + 1, q2).toUpperCase();
    const data = s.slice(q2 + 1, end);
    out += enc === 'B' ? Buffer.from(data, 'base64').toString('utf8') : qp(data.split('_').join(' '));
    lastWasWord = true;
    i = end + 2;
  }
  return out;
}

/** Quoted-printable to UTF-8 text (soft line breaks removed). */
function qp(s: string): string {
  const bytes: number[] = [];
  const src = s.split('=\r\n').join('').split('=\n').join('');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === '=' && i + 2 < src.length && /^[0-9A-Fa-f]{2}$/.test(src.slice(i + 1, i + 3))) {
      bytes.push(parseInt(src.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(src[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Parse a single-part text message as nodemailer writes it. */
export function parseMail(raw: string, from: string, to: string[]): ReceivedMail {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  let last = '';
  for (const line of head) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && last !== '') headers[last] = `${headers[last] ?? ''} ${line.trim()}`;
    else {
      const colon = line.indexOf(':');
      last = line.slice(0, colon).toLowerCase();
      headers[last] = line.slice(colon + 1).trim();
    }
  }
  for (const k of Object.keys(headers)) headers[k] = decodeWords(headers[k]!);
  const body = raw.slice(split + 4);
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const text = cte === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8') : cte === 'quoted-printable' ? qp(body) : body;
  return { from, to, headers, subject: headers['subject'] ?? '', text: text.replace(/\r\n/g, '\n'), raw };
}

/** The SMTP peer. */
export interface SmtpPeer {
  readonly port: number;
  readonly messages: ReceivedMail[];
  /** Listen (again) on `port`. */
  up(): Promise<void>;
  /** Stop listening (an outage); idempotent. */
  down(): Promise<void>;
}

/** An SMTP server on 127.0.0.1 (no TLS, no authentication), down until `up()`; closed when `teardown` runs. */
export async function smtpPeer(teardown: (fn: () => Promise<void>) => void): Promise<SmtpPeer> {
  const port = await freeTcpPort();
  const messages: ReceivedMail[] = [];
  let server: SMTPServer | undefined;
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  teardown(down);
  return {
    port, messages, down,
    up: async () => {
      if (server !== undefined) return;
      const s = new SMTPServer({
        authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
        onData(stream, session, done) {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address;
            messages.push(parseMail(Buffer.concat(chunks).toString('utf8'), from, session.envelope.rcptTo.map((r) => r.address)));
            done();
          });
        },
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      server = s;
    },
  };
}

/** A POST the SMS gateway received. */
export interface GatewayRequest {
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** The SMS gateway peer. */
export interface SmsGatewayPeer {
  readonly url: string;
  readonly received: GatewayRequest[];
  /** The status it answers (200 = accepted; 503 = an outage). */
  status: number;
  close(): Promise<void>;
}

/** An HTTP SMS gateway on 127.0.0.1 at `/sms`, answering `status` (default 200); closed when `teardown` runs. */
export async function smsGatewayPeer(teardown: (fn: () => Promise<void>) => void): Promise<SmsGatewayPeer> {
  const received: GatewayRequest[] = [];
  const peer = { received, status: 200 } as { received: GatewayRequest[]; status: number };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // Only what the gateway accepts counts as received: a 503 during an outage took nothing.
      if (peer.status >= 200 && peer.status < 300) received.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
      res.writeHead(peer.status, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  teardown(close);
  return Object.assign(peer, { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/sms`, close });
}
