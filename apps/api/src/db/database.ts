import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { Pool } from 'pg';
import * as schema from './schema';

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>;

const MIGRATIONS = join(__dirname, 'migrations');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite serves one process: a second one opening the same directory would see none of the
 * first one's writes and could damage them. The data directory is taken with a lock file naming
 * the process (one left by a process that is gone is taken over); returns its release.
 */
function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'lockstep.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      if (Number.isInteger(holder) && holder !== process.pid && alive(holder)) {
        throw new Error(
          `${dataDir} is in use by process ${holder}: the embedded database serves one process; stop it first, or give both DATABASE_URL (PostgreSQL)`,
          { cause: error },
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`cannot take ${path}`);
}

/**
 * The API's database: PostgreSQL at `url`, or an embedded PGlite in `dataDir` (created if need
 * be). Both get the same schema through the same versioned migrations, applied when it opens;
 * the repositories see one query builder.
 */
export class Database {
  private constructor(
    readonly db: Db,
    readonly kind: 'postgres' | 'pglite',
    private readonly end: () => Promise<void>,
  ) {}

  static async open(options: { url?: string; dataDir: string }): Promise<Database> {
    if (options.url) {
      const pool = new Pool({ connectionString: options.url, max: 10 });
      const db = drizzlePg(pool, { schema });
      try {
        await migratePg(db, { migrationsFolder: MIGRATIONS });
      } catch (error) {
        await pool.end();
        throw error;
      }
      return new Database(db as unknown as Db, 'postgres', () => pool.end());
    }
    const dir = resolve(options.dataDir, 'pglite');
    mkdirSync(dir, { recursive: true });
    const unlock = lockDataDir(resolve(options.dataDir));
    let client: PGlite | undefined;
    try {
      client = await PGlite.create(dir);
      const db = drizzlePglite(client, { schema });
      await migratePglite(db, { migrationsFolder: MIGRATIONS });
      const opened = client;
      return new Database(db as unknown as Db, 'pglite', async () => {
        await opened.close();
        unlock();
      });
    } catch (error) {
      await client?.close();
      unlock();
      throw error;
    }
  }

  /** The database answers a query. */
  async ping(): Promise<void> {
    await this.db.execute(sql`select 1`);
  }

  async close(): Promise<void> {
    await this.end();
  }
}
