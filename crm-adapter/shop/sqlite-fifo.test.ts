/**
 * The shop's SQLite dialect hands its one connection over in arrival order: concurrent
 * transactions never overlap (a read-modify-write in each loses no update), queries issued
 * together complete in the order they were issued, and the queue empties so the next query does
 * not wait. The cost this fixes (Kysely's mutex waking every waiter) is measured in bench/shop.ts.
 */
import t from 'tap';
import { Kysely, sql } from 'kysely';
import { openDatabase } from '../../engine/db/index.ts';
import { FifoSqliteDialect } from './sqlite-fifo.ts';

interface Db {
  c: { id: number; n: number };
}

t.test('FIFO hand-off of the one SQLite connection', async (t) => {
  const db = new Kysely<Db>({ dialect: new FifoSqliteDialect({ database: openDatabase({ path: ':memory:' }) as unknown as ConstructorParameters<typeof FifoSqliteDialect>[0]['database'] }) });
  t.teardown(() => db.destroy());
  await sql`CREATE TABLE c (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`.execute(db);
  await db.insertInto('c').values({ id: 1, n: 0 }).execute();
  const order: number[] = [];
  const work: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) {
    // Read, yield, write: two holders at once would lose increments.
    work.push(db.transaction().execute(async (trx) => {
      const r = await trx.selectFrom('c').select('n').where('id', '=', 1).executeTakeFirstOrThrow();
      await new Promise((resolve) => setImmediate(resolve));
      await trx.updateTable('c').set({ n: r.n + 1 }).where('id', '=', 1).execute();
    }));
    work.push(db.selectFrom('c').select('n').executeTakeFirstOrThrow().then(() => order.push(i)));
  }
  await Promise.all(work);
  t.equal((await db.selectFrom('c').select('n').executeTakeFirstOrThrow()).n, 300, 'no lost update: one holder at a time');
  t.same(order, Array.from({ length: 300 }, (_, i) => i), 'queries served in the order they were issued');
  const after = await db.selectFrom('c').select('n').executeTakeFirstOrThrow();
  t.equal(after.n, 300, 'the queue drained: a later query gets the connection');
});
