#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --heap-growing-percent=30
/**
 * The `onair` executable (package.json `bin`): see `onair --help` and docs/configuration.md.
 */
import { processIo, run } from './run.ts';

const code = await run(process.argv.slice(2), processIo());
process.exitCode = code;
// Everything the engine opened is closed by stop(); a handle someone leaked must not keep a
// stopped engine alive, so leave shortly even then (unref: a clean exit is not delayed).
setTimeout(() => process.exit(code), 2000).unref();
