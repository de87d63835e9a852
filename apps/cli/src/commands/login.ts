import { Command } from 'commander';
import { ApiClient } from '../api-client';
import type { Run } from '../command';
import { apiToken, apiUrl, saveConnection } from '../config';
import type { Context } from '../context';
import { EXIT, usageError } from '../exit-codes';

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw usageError('--token: give the token, or pipe it in (fleetctl login --url URL < token)');
  let text = '';
  for await (const chunk of process.stdin) text += String(chunk);
  return text;
}

export function loginCommand(ctx: Context, run: Run): Command {
  return new Command('login')
    .description(
      'check a token against the API and keep both for the next commands (a file only you can read)',
    )
    .requiredOption('--url <url>', "the API's base URL, e.g. http://lockstep:8080")
    .option(
      '--token <token>',
      'the token (without it, read from stdin, which keeps it out of the shell history)',
    )
    .action(
      run(async (flags: { url: string; token?: string }) => {
        const connection = {
          url: apiUrl(flags.url, '--url'),
          token: apiToken(flags.token ?? (await readStdin()), '--token'),
        };
        // Any role may read the printers: a token the API accepts passes.
        await new ApiClient(connection).get('/printers');
        const path = saveConnection(ctx.env, connection);
        ctx.out.result(
          { url: connection.url, config: path },
          (r) => `logged in to ${r.url}; kept in ${r.config}`,
        );
        return EXIT.ok;
      }),
    );
}
