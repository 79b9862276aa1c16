/**
 * The main thread's work scheduler (issue 13, contract C4): bounded queues by work class, drained
 * highest class first with a per-turn budget. Other layers only say which class their work is.
 */
export { WorkScheduler, WORK_CLASSES } from './scheduler.ts';
export type { WorkClass, WorkHandler, WorkSchedulerOptions, WorkClassStats } from './scheduler.ts';
