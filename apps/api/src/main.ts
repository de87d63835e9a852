import 'reflect-metadata';
import { ROLES, type Role } from '@lockstep/contracts';
import { TokenService } from './auth/token-service';
import { loadApiConfig } from './config';
import { Database } from './db/database';
import { startApiServer } from './server';

const USAGE = `usage: lockstep-api [serve]
       lockstep-api create-token --name NAME --role ${ROLES.join('|')}   (prints a new token once)`;

function option(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

/**
 * `create-token`: the bootstrap of a fresh installation (its first admin token), run on the API's
 * machine with the API's configuration; the token is printed once and stored as its hash.
 */
async function createToken(args: string[]): Promise<void> {
  const name = option(args, '--name');
  const role = option(args, '--role');
  if (!name || !role || !(ROLES as readonly string[]).includes(role)) throw new Error(USAGE);
  const config = loadApiConfig();
  const database = await Database.open({ url: config.DATABASE_URL, dataDir: config.LOCKSTEP_DATA_DIR });
  try {
    const made = await new TokenService(database).create(name, role as Role, 'bootstrap');
    process.stdout.write(`${made.token}\n`);
    process.stderr.write(
      `token ${made.id} (${made.role}) for ${made.name}: keep it, it is not shown again\n`,
    );
  } finally {
    await database.close();
  }
}

/** How long a stop may take, past the requests' grace period, before the process gives up on it. */
const STOP_DEADLINE_MS = 20_000;

/**
 * Serves until SIGTERM (systemd's stop) or SIGINT, then closes in order and exits 0; 1 when the
 * close fails or outlasts its deadline. A second signal ends the process at once.
 */
async function serve(): Promise<void> {
  const server = await startApiServer(loadApiConfig());
  const log = server.app.getHttpAdapter().getInstance().log;
  log.info({ url: server.url, database: server.database.kind }, 'lockstep-api listening');
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.error({ signal }, 'lockstep-api stopped at once (a second signal)');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'lockstep-api stopping');
    setTimeout(() => {
      log.error(`lockstep-api did not stop within ${STOP_DEADLINE_MS / 1000} s`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    server.close().then(
      () => {
        log.info('lockstep-api stopped');
        process.exit(0);
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        log.error(`lockstep-api did not stop cleanly: ${message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(args: string[]): Promise<void> {
  const command = args[0] ?? 'serve';
  if (command === 'serve') return serve();
  if (command === 'create-token') return createToken(args.slice(1));
  throw new Error(USAGE);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`lockstep-api: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
