/**
 * A real UserAgent on a free UDP port of 127.0.0.1, closed at the end of the test. For tests of
 * the SIP stack and of the layers above it that place or take calls over loopback.
 */
import { TransportLayer } from '../transport.ts';
import { UserAgent, type UserAgentOptions } from '../ua.ts';

/** tap's teardown, the only part used. */
export interface TeardownTest { teardown(fn: () => unknown): void }

/** A user agent on a free loopback UDP port; its transport and the UA close at teardown. */
export async function loopbackUa(t: TeardownTest, opts: UserAgentOptions = {}): Promise<{ ua: UserAgent; port: number }> {
  const transport = new TransportLayer();
  const local = await transport.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const ua = new UserAgent(transport, opts);
  t.teardown(async () => {
    ua.close();
    await transport.close();
  });
  return { ua, port: local.port };
}
