/** The engine's clocks: one interface, a monotonic and an epoch clock, and the fake for tests. */
export { monotonicClock, epochClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { FakeClock } from './fake.ts';
