/**
 * The broadcast schedule as data (issue 18): programmes and their airings (channel, start, end,
 * the dialled numbers shown on screen, expected call volume, products), stored durably in the
 * engine's database, edited through the API or imported from YAML/CSV files, and the rule that
 * attributes a call to an airing:
 *
 * ```
 *  number 400100 ──▶ [ airing A 20:00─21:00 ]+tail  [ airing B 22:00─23:00 ]+tail
 *  call at 21:10 (tail 30 min) ─▶ A      call at 22:05 ─▶ B      call at 21:45 ─▶ none (number plan)
 * ```
 * A number reused across airings resolves by time: the airing whose window [start, end + tail)
 * holds the arrival; when windows overlap (a tail running into the next airing) the latest start
 * wins, since a caller who dials during an airing answers what is on screen now.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { migrate, transact, type SqliteDatabase, type SqliteStatement, type SqliteWriter } from '../db/index.ts';

/** Error codes of the schedule (one registry, CONVENTIONS.md 19). */
export const SCHEDULE_ERRORS = {
  /** The input is not a valid schedule (YAML/CSV/JSON shape, times, numbers). */
  invalid: 'REPORTS_ERR_SCHEDULE_INVALID',
  /** An airing names a programme that does not exist. */
  unknownProgramme: 'REPORTS_ERR_UNKNOWN_PROGRAMME',
  /** No such programme or airing. */
  notFound: 'REPORTS_ERR_NOT_FOUND',
  /** A programme still has airings. */
  inUse: 'REPORTS_ERR_IN_USE',
  /** Surge mode has stopped (the engine is shutting down): no override any more. */
  stopped: 'REPORTS_ERR_STOPPED',
} as const;
/** One schedule error code. */
export type ScheduleErrorCode = typeof SCHEDULE_ERRORS[keyof typeof SCHEDULE_ERRORS];
/** A schedule operation's result. */
export type ScheduleResult<T> = { ok: true; value: T } | { ok: false; code: ScheduleErrorCode; reason: string };

const scheduleId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'expected an id: 1-64 letters, digits, _ . : - (not first)');
const dialled = z.string().regex(/^[0-9*#+]{1,32}$/, 'expected a dialled number (digits, * # +)');
const product = z.string().min(1).max(64);
const instant = z.union([z.number().int().min(0).max(8.64e15), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

/** Surge settings of a programme (docs/reports.md, surge mode); null = no surge for it. */
export const surgeSchema = z.strictObject({
  leadMinutes: z.number().int().min(0).max(240).describe('Minutes before an airing starts that the back office is switched in'),
  queue: z.string().min(1).max(64).describe('The order queue whose skill is added'),
  skill: z.string().min(1).max(64).optional().describe('The skill to add; default the queue id'),
  level: z.number().int().min(1).max(100).describe('Skill level the back-office agents get'),
  agents: z.array(z.string().min(1).max(64)).min(1).max(1000).describe('The back-office agents switched in'),
});
/** Surge settings of a programme. */
export type SurgeSettings = z.output<typeof surgeSchema>;

/** A programme as the API and files give it. */
export const programmeSchema = z.strictObject({
  id: scheduleId,
  name: z.string().min(1).max(200),
  products: z.array(product).max(200).default([]),
  surge: surgeSchema.nullable().default(null),
});
/** A programme. */
export type Programme = z.output<typeof programmeSchema>;

/** An airing as the API and files give it. */
export const airingSchema = z.strictObject({
  id: scheduleId,
  programme: scheduleId,
  channel: z.string().min(1).max(64),
  start: instant,
  end: instant,
  numbers: z.array(dialled).min(1).max(20),
  expectedCalls: z.number().int().min(0).max(10_000_000).nullable().default(null),
  products: z.array(product).max(200).default([]),
}).refine((a) => a.end > a.start, { message: 'end must be after start', path: ['end'] })
  .refine((a) => a.end - a.start <= 86_400_000, { message: 'an airing lasts at most 24 hours', path: ['end'] });
/** An airing (times in epoch ms). */
export type Airing = z.output<typeof airingSchema>;

/** A schedule file: programmes and airings. */
export const scheduleFileSchema = z.strictObject({
  programmes: z.array(programmeSchema).max(10_000).default([]),
  airings: z.array(airingSchema).max(100_000).default([]),
});
/** A whole schedule. */
export type ScheduleData = z.output<typeof scheduleFileSchema>;

function issues(err: z.ZodError): string {
  return err.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Parse a YAML (or JSON) schedule file. */
export function parseScheduleYaml(text: string): ScheduleResult<ScheduleData> {
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    return { ok: false, code: SCHEDULE_ERRORS.invalid, reason: `not YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  const r = scheduleFileSchema.safeParse(doc ?? {});
  return r.success ? { ok: true, value: r.data } : { ok: false, code: SCHEDULE_ERRORS.invalid, reason: issues(r.error) };
}

/** The CSV columns of an airings file (numbers and products separated by `;`). */
export const AIRING_CSV_COLUMNS = ['airing', 'programme', 'channel', 'start', 'end', 'numbers', 'expectedCalls', 'products'] as const;

/** Split one CSV line (RFC 4180 quotes). */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') { cur += '"'; i++; }
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { out.push(cur); cur = ''; }
    else cur += ch;
  }
  out.push(cur);
  return out.map((f) => f.trim());
}

/**
 * Parse an airings CSV (header line {@link AIRING_CSV_COLUMNS}); programmes not in `known` are
 * created with their id as name. Every line is validated; the first bad line refuses the file.
 */
export function parseScheduleCsv(text: string, known: ReadonlySet<string>): ScheduleResult<ScheduleData> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const header = csvFields(lines[0] ?? '');
  if (AIRING_CSV_COLUMNS.some((c, i) => header[i] !== c)) {
    return { ok: false, code: SCHEDULE_ERRORS.invalid, reason: `line 1: expected the header ${AIRING_CSV_COLUMNS.join(',')}` };
  }
  const airings: Airing[] = [];
  const programmes = new Map<string, Programme>();
  for (let n = 1; n < lines.length; n++) {
    const f = csvFields(lines[n]!);
    const list = (s: string | undefined): string[] => (s ?? '').split(';').map((x) => x.trim()).filter((x) => x !== '');
    const r = airingSchema.safeParse({
      id: f[0], programme: f[1], channel: f[2], start: /^[0-9]+$/.test(f[3] ?? '') ? Number(f[3]) : f[3],
      end: /^[0-9]+$/.test(f[4] ?? '') ? Number(f[4]) : f[4], numbers: list(f[5]),
      expectedCalls: f[6] === undefined || f[6] === '' ? null : Number(f[6]), products: list(f[7]),
    });
    if (!r.success) return { ok: false, code: SCHEDULE_ERRORS.invalid, reason: `line ${n + 1}: ${issues(r.error)}` };
    airings.push(r.data);
    if (!known.has(r.data.programme) && !programmes.has(r.data.programme)) {
      programmes.set(r.data.programme, { id: r.data.programme, name: r.data.programme, products: [], surge: null });
    }
  }
  return { ok: true, value: { programmes: [...programmes.values()], airings } };
}

/** Resolves dialled number + time to an airing (pure; rebuilt when the schedule changes). */
export class AiringIndex {
  readonly #byNumber = new Map<string, Airing[]>();

  constructor(airings: Iterable<Airing>, readonly tailMs: number) {
    for (const a of airings) for (const n of a.numbers) {
      let list = this.#byNumber.get(n);
      if (list === undefined) this.#byNumber.set(n, (list = []));
      list.push(a);
    }
    for (const list of this.#byNumber.values()) list.sort((a, b) => a.start - b.start);
  }

  /** The airing a call to `number` arriving at `at` belongs to, or null. */
  resolve(number: string, at: number): Airing | null {
    const list = this.#byNumber.get(number);
    if (list === undefined) return null;
    // Latest start first: the airing on screen now wins over the tail of the one before.
    for (let i = list.length - 1; i >= 0; i--) {
      const a = list[i]!;
      if (a.start > at) continue;
      if (at < a.end + this.tailMs) return a;
    }
    return null;
  }
}


interface ProgrammeRow { id: string; name: string; products: string; surge: string | null }
interface AiringRow { id: string; programme: string; channel: string; start: number; end: number; numbers: string; expected_calls: number | null; products: string }

function toProgramme(r: ProgrammeRow): Programme {
  return { id: r.id, name: r.name, products: JSON.parse(r.products) as string[], surge: r.surge === null ? null : JSON.parse(r.surge) as SurgeSettings };
}
function toAiring(r: AiringRow): Airing {
  return {
    id: r.id, programme: r.programme, channel: r.channel, start: r.start, end: r.end, numbers: JSON.parse(r.numbers) as string[],
    expectedCalls: r.expected_calls, products: JSON.parse(r.products) as string[],
  };
}

/** Options of {@link SqliteSchedule}. */
export interface SqliteScheduleOptions {
  db: SqliteDatabase;
  writer: SqliteWriter;
  /** How long after an airing ends its calls are still attributed to it (config `reports.schedule.tailMinutes`). */
  tailMs: number;
  /** Told after every change (surge mode re-plans). */
  onChange?: () => void;
  now?: number;
}

/** The schedule on SQLite, with its attribution index kept current. */
export class SqliteSchedule {
  readonly tailMs: number;
  readonly #db: SqliteDatabase;
  readonly #writer: SqliteWriter;
  #index: AiringIndex;
  #onChange: (() => void) | undefined;
  readonly #putProgramme: SqliteStatement;
  readonly #putAiring: SqliteStatement;
  readonly #delProgramme: SqliteStatement;
  readonly #delAiring: SqliteStatement;
  readonly #programmes: SqliteStatement<ProgrammeRow>;
  readonly #airings: SqliteStatement<AiringRow>;
  readonly #programme: SqliteStatement<ProgrammeRow>;
  readonly #airingsOf: SqliteStatement<{ n: number }>;

  constructor(opts: SqliteScheduleOptions) {
    this.#db = opts.db;
    this.#writer = opts.writer;
    this.tailMs = opts.tailMs;
    this.#onChange = opts.onChange;
    migrate(opts.db, 'schedule', SCHEDULE_MIGRATIONS, opts.now ?? Date.now());
    const db = opts.db;
    this.#putProgramme = db.prepare('INSERT OR REPLACE INTO schedule_programmes (id, name, products, surge) VALUES (?, ?, ?, ?)');
    this.#putAiring = db.prepare('INSERT OR REPLACE INTO schedule_airings (id, programme, channel, start, "end", numbers, expected_calls, products) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.#delProgramme = db.prepare('DELETE FROM schedule_programmes WHERE id = ?');
    this.#delAiring = db.prepare('DELETE FROM schedule_airings WHERE id = ?');
    this.#programmes = db.prepare('SELECT id, name, products, surge FROM schedule_programmes ORDER BY id');
    this.#airings = db.prepare('SELECT id, programme, channel, start, "end", numbers, expected_calls, products FROM schedule_airings ORDER BY start, id');
    this.#programme = db.prepare('SELECT id, name, products, surge FROM schedule_programmes WHERE id = ?');
    this.#airingsOf = db.prepare('SELECT count(*) AS n FROM schedule_airings WHERE programme = ?');
    this.#index = new AiringIndex(this.airings(), this.tailMs);
  }

  /** Set the change observer (surge mode). */
  observe(onChange: () => void): void {
    this.#onChange = onChange;
  }

  /** Every programme, by id. */
  programmes(): Programme[] {
    return this.#programmes.all().map(toProgramme);
  }

  /** One programme, or null. */
  programme(id: string): Programme | null {
    const r = this.#programme.get(id);
    return r === undefined ? null : toProgramme(r);
  }

  /** Every airing, by start. */
  airings(): Airing[] {
    return this.#airings.all().map(toAiring);
  }

  /** The airing of a call (see the module comment), or null. */
  resolve(number: string, at: number): Airing | null {
    return this.#index.resolve(number, at);
  }

  /** Create or replace a programme. */
  putProgramme(p: Programme): Promise<ScheduleResult<Programme>> {
    return this.#change(() => {
      this.#putProgramme.run(p.id, p.name, JSON.stringify(p.products), p.surge === null ? null : JSON.stringify(p.surge));
      return { ok: true, value: p };
    });
  }

  /** Create or replace an airing; its programme must exist. */
  putAiring(a: Airing): Promise<ScheduleResult<Airing>> {
    return this.#change(() => this.#putAiringSync(a));
  }

  /** Delete a programme without airings. */
  deleteProgramme(id: string): Promise<ScheduleResult<null>> {
    return this.#change(() => {
      if ((this.#airingsOf.get(id)?.n ?? 0) > 0) return { ok: false, code: SCHEDULE_ERRORS.inUse, reason: `programme ${id} has airings` };
      return this.#delProgramme.run(id).changes === 0 ? { ok: false, code: SCHEDULE_ERRORS.notFound, reason: `no programme ${id}` } : { ok: true, value: null };
    });
  }

  /** Delete an airing. */
  deleteAiring(id: string): Promise<ScheduleResult<null>> {
    return this.#change(() => (this.#delAiring.run(id).changes === 0
      ? { ok: false, code: SCHEDULE_ERRORS.notFound, reason: `no airing ${id}` } : { ok: true, value: null }));
  }

  /** Import programmes and airings (replacing those with the same ids), all or nothing. */
  import(data: ScheduleData): Promise<ScheduleResult<{ programmes: number; airings: number }>> {
    return this.#change(() => {
      for (const p of data.programmes) this.#putProgramme.run(p.id, p.name, JSON.stringify(p.products), p.surge === null ? null : JSON.stringify(p.surge));
      for (const a of data.airings) {
        const r = this.#putAiringSync(a);
        if (!r.ok) throw new ScheduleRefusal(r);
      }
      return { ok: true, value: { programmes: data.programmes.length, airings: data.airings.length } };
    });
  }

  #putAiringSync(a: Airing): ScheduleResult<Airing> {
    if (this.#programme.get(a.programme) === undefined) return { ok: false, code: SCHEDULE_ERRORS.unknownProgramme, reason: `airing ${a.id}: no programme ${a.programme}` };
    this.#putAiring.run(a.id, a.programme, a.channel, a.start, a.end, JSON.stringify(a.numbers), a.expectedCalls, JSON.stringify(a.products));
    return { ok: true, value: a };
  }

  #change<T>(fn: () => ScheduleResult<T>): Promise<ScheduleResult<T>> {
    return this.#writer.write(() => {
      let r: ScheduleResult<T>;
      try {
        r = transact(this.#db, fn);
      } catch (err) {
        if (err instanceof ScheduleRefusal) return err.result as ScheduleResult<T>;
        throw err;
      }
      if (r.ok) {
        this.#index = new AiringIndex(this.airings(), this.tailMs);
        this.#onChange?.();
      }
      return r;
    });
  }
}

/** Rolls an import back (thrown inside its transaction). */
class ScheduleRefusal extends Error {
  constructor(readonly result: ScheduleResult<never>) {
    super(result.ok ? '' : result.reason);
  }
}

/** Migrations of the schedule (component `schedule`). */
export const SCHEDULE_MIGRATIONS = [
  {
    version: 1,
    name: 'programmes and airings',
    sql: `
CREATE TABLE schedule_programmes (id TEXT PRIMARY KEY, name TEXT NOT NULL, products TEXT NOT NULL, surge TEXT);
CREATE TABLE schedule_airings (
  id TEXT PRIMARY KEY, programme TEXT NOT NULL REFERENCES schedule_programmes (id), channel TEXT NOT NULL,
  start INTEGER NOT NULL, "end" INTEGER NOT NULL, numbers TEXT NOT NULL, expected_calls INTEGER, products TEXT NOT NULL
);
CREATE INDEX schedule_airings_start ON schedule_airings (start);
`,
  },
] as const;

/** The route of a call with the schedule's attribution: its airing's programme and id, else `planned` as it is. */
export function attributeRoute<R extends { programme: string | null; airing: string | null }>(
  schedule: Pick<SqliteSchedule, 'resolve'>, planned: R, dialled: string, at: number,
): R {
  const a = schedule.resolve(dialled, at);
  return a === null ? planned : { ...planned, programme: a.programme, airing: a.id };
}

/** Parse a schedule file by its name: `.csv` as airings CSV, anything else as YAML/JSON. */
export function parseScheduleFile(name: string, text: string, known: ReadonlySet<string>): ScheduleResult<ScheduleData> {
  return name.toLowerCase().endsWith('.csv') ? parseScheduleCsv(text, known) : parseScheduleYaml(text);
}

/** Import a schedule file at start; a bad file refuses the start (config is data, checked once). */
export async function importScheduleFile(schedule: SqliteSchedule, file: string): Promise<{ programmes: number; airings: number }> {
  const text = await readFile(file, 'utf8');
  const parsed = parseScheduleFile(file, text, new Set(schedule.programmes().map((p) => p.id)));
  const r = parsed.ok ? await schedule.import(parsed.value) : parsed;
  if (!r.ok) throw new Error(`${r.code}: reports.schedule.file ${file}: ${r.reason}`);
  return r.value;
}
