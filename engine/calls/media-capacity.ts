/**
 * The media capacity in force (issue 13): `media.maxStreams` as configured, or measured at start
 * when it is `'auto'` (media/worker/calibrate.ts). A calibration that fails leaves no limit and
 * says so: refusing callers because a measurement broke would be worse than the overload it
 * guards against.
 */
import { streamsFor, type MediaPool, type SendCost } from '../../media/index.ts';

/** How the capacity came about, for the start-up log and the operator. */
export type MediaCapacity =
  | { streams: number | null; source: 'configured' }
  | { streams: number; source: 'measured'; costs: SendCost[]; coreShare: number }
  | { streams: null; source: 'unmeasured'; reason: string };

/** The media section's two settings this reads. */
export interface MediaCapacitySettings {
  maxStreams: number | 'auto' | null;
  capacityCoreShare: number;
}

/** Resolve the capacity: the configured number (or no limit), else time the workers now. */
export async function mediaCapacity(pool: Pick<MediaPool, 'calibrate'>, s: Readonly<MediaCapacitySettings>, packets?: number): Promise<MediaCapacity> {
  if (s.maxStreams !== 'auto') return { streams: s.maxStreams, source: 'configured' };
  const r = await pool.calibrate(packets);
  if (!r.ok) return { streams: null, source: 'unmeasured', reason: r.reason };
  return { streams: streamsFor(r.value.map((c) => c.usPerPacket), s.capacityCoreShare), source: 'measured', costs: r.value, coreShare: s.capacityCoreShare };
}
