/**
 * `npm run fuzz -- NAME [args...]`: runs the fuzzer `bench/fuzz/NAME.ts` against a real engine
 * process (today: `sip`). Output like a benchmark: JSON lines on stdout, a summary on stderr.
 */
import { main } from './sip.ts';

await main(process.argv.slice(2));
