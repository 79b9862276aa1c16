/**
 * Playlists: what a leg hears while it is not bridged (IVR prompts, position announcements, hold
 * audio). A playlist is plain data so it crosses the worker boundary in a `postMessage`; the worker
 * compiles it once into frames of prompt audio already in the leg's codec.
 */
import type { G711 } from '../codec/index.ts';

/** One entry of a {@link Playlist}. */
export type PlaylistItem =
  /** A prompt by cache name, e.g. `'en/welcome'` or `'hold/loop'`. */
  | { kind: 'prompt'; name: string }
  /** Silence of `ms` milliseconds (rounded up to whole 20 ms frames). */
  | { kind: 'silence'; ms: number }
  /** A number read out as prompts (e.g. queue position), via the prompt set's read-out rules. */
  | { kind: 'number'; value: number; lang: 'en' | 'zh' };

/**
 * What to play. With `loop`, playback restarts at item `loopFrom` (default 0) after the last item,
 * until stopped: `[position announcement, silence, hold music]` with `loopFrom: 2` announces once,
 * then loops the music.
 */
export interface Playlist {
  items: PlaylistItem[];
  loop?: boolean;
  loopFrom?: number;
}

/** Prompt audio as the player needs it (satisfied by `Prompt` of media/prompts). */
export interface PromptAudio {
  /** µ-law bytes, 8 kHz, one byte per sample. */
  pcmu: Buffer;
  /** A-law bytes, 8 kHz, one byte per sample. */
  pcma: Buffer;
}

/** Where playlists find prompts and number read-out rules (the worker's prompt cache). */
export interface PromptSource {
  get(name: string): PromptAudio | undefined;
  /** Prompt names reading out `n` in `lang`; absent = number items are an error. */
  readout?(n: number, lang: 'en' | 'zh'): string[];
}

/**
 * A compiled segment: `frames` frames of `data` (undefined = silence). The last frame of a prompt
 * whose length is not a multiple of the frame size is padded with silence. `views` holds one view
 * per frame of `data` (shared by every playlist using the same prompt), so the player copies a
 * frame without creating anything per packet.
 */
export interface Segment {
  data: Buffer | undefined;
  frames: number;
  views?: readonly Uint8Array[];
}

/** Frame views per prompt buffer: built on the first compile, shared by every leg after. */
const viewCache = new WeakMap<Buffer, Map<number, readonly Uint8Array[]>>();

/** `data` cut into views of `frameBytes` (the last one may be shorter), cached per buffer. */
function frameViews(data: Buffer, frameBytes: number): readonly Uint8Array[] {
  let bySize = viewCache.get(data);
  if (bySize === undefined) {
    bySize = new Map();
    viewCache.set(data, bySize);
  }
  let views = bySize.get(frameBytes);
  if (views === undefined) {
    const v: Uint8Array[] = [];
    for (let off = 0; off < data.length; off += frameBytes) v.push(data.subarray(off, Math.min(off + frameBytes, data.length)));
    views = v;
    bySize.set(frameBytes, views);
  }
  return views;
}

/** A playlist ready to play in one codec. */
export interface CompiledPlaylist {
  segments: Segment[];
  loop: boolean;
  /** Segment index playback restarts at when looping. */
  loopFrom: number;
  /** Total frames of one pass (for tests and stats). */
  frames: number;
}

/** Compile result: `MEDIA_ERR_PLAYLIST` with the reason (unknown prompt, bad item). */
export type CompileResult =
  | { ok: true; playlist: CompiledPlaylist }
  | { ok: false; code: 'MEDIA_ERR_PLAYLIST'; reason: string };

/**
 * Resolve every prompt of `list` in `codec` now, so playback never touches the cache or the disk.
 * An empty pass that loops would spin; it is an error.
 */
export function compilePlaylist(list: Playlist, codec: G711, source: PromptSource, frameBytes = 160): CompileResult {
  const segments: Segment[] = [];
  let frames = 0;
  let loopFrom = 0;
  const from = list.loopFrom ?? 0;
  for (let i = 0; i < list.items.length; i++) {
    if (i === from) loopFrom = segments.length;
    const item = list.items[i]!;
    if (item.kind === 'silence') {
      if (!(item.ms >= 0) || !Number.isFinite(item.ms)) return bad(`silence of ${item.ms} ms`);
      const n = Math.ceil(item.ms / 20);
      if (n > 0) segments.push({ data: undefined, frames: n });
      frames += n;
      continue;
    }
    let names: string[];
    if (item.kind === 'prompt') names = [item.name];
    else if (item.kind === 'number') {
      if (source.readout === undefined) return bad('no number read-out rules in this prompt source');
      if (!Number.isInteger(item.value) || item.value < 0) return bad(`cannot read out ${item.value}`);
      names = source.readout(item.value, item.lang);
    } else return bad(`unknown item ${JSON.stringify(item)}`);
    for (const name of names) {
      const p = source.get(name);
      if (p === undefined) return bad(`unknown prompt '${name}'`);
      const data = codec === 'PCMU' ? p.pcmu : p.pcma;
      const n = Math.ceil(data.length / frameBytes);
      if (n > 0) segments.push({ data, frames: n, views: frameViews(data, frameBytes) });
      frames += n;
    }
  }
  if (from >= list.items.length && list.loop === true) return bad(`loopFrom ${from} is past the last item`);
  const loop = list.loop === true;
  if (loop) {
    let loopFrames = 0;
    for (let i = loopFrom; i < segments.length; i++) loopFrames += segments[i]!.frames;
    if (loopFrames === 0) return bad('a looping playlist must contain audio or silence');
  }
  return { ok: true, playlist: { segments, loop, loopFrom, frames } };
}

function bad(reason: string): CompileResult {
  return { ok: false, code: 'MEDIA_ERR_PLAYLIST', reason };
}
