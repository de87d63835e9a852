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

async function serve(): Promise<void> {
  const server = await startApiServer(loadApiConfig());
  server.app
    .getHttpAdapter()
    .getInstance()
    .log.info({ url: server.url, database: server.database.kind }, 'lockstep-api listening');
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
