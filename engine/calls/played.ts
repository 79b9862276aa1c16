/**
 * What a caller was played, for the CDR's `played` (crm-adapter/contract.ts): every prompt of
 * every playlist in order, a number item as the number (`#7`), a looping playlist once. Bounded by
 * `CDR_PLAYED_MAX` so that a long hold cannot grow a record.
 */
import { CDR_PLAYED_MAX } from '../../crm-adapter/index.ts';
import type { Playlist } from '../../media/index.ts';

/** Append what `playlist` plays to `played` (kept up to `CDR_PLAYED_MAX` entries). */
export function notePlayed(played: string[], playlist: Playlist): void {
  for (const item of playlist.items) {
    if (played.length >= CDR_PLAYED_MAX) return;
    if (item.kind === 'prompt') played.push(item.name);
    else if (item.kind === 'number') played.push(`#${item.value}`);
  }
}
