import { Command, CommanderError } from 'commander';
import type { Run } from './command';
import { buildCommand } from './commands/build';
import { completionCommand } from './commands/completion';
import { hostsCommand, printersCommand, profilesCommand, tokensCommand } from './commands/inventory';
import { loginCommand } from './commands/login';
import { rollbackCommand, rolloutCommand } from './commands/rollout';
import { Context } from './context';
import { CliError, EXIT } from './exit-codes';
import { Output } from './output';

const EXIT_HELP = `
Exit codes: 0 success; 1 a printer or build failed; 2 usage or validation error;
3 rollout paused or cancelled; 4 API unreachable or the token refused.
Connection: LOCKSTEP_URL and LOCKSTEP_TOKEN, else the file fleetctl login writes.`;

/** The fleetctl program: every command, writing through `ctx`. */
export function program(ctx: Context): Command {
  const run: Run =
    (action) =>
    async (...args) => {
      process.exitCode = await action(...args);
    };
  const root: Command = new Command('fleetctl')
    .description(
      'Lockstep: update Klipper on every printer of the farm, MCUs included, behind a version gate',
    )
    .option('--json', "print the API's JSON on stdout (progress goes to stderr)")
    .addHelpText('after', EXIT_HELP)
    .showHelpAfterError('(fleetctl --help lists the commands)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });
  for (const command of [
    loginCommand(ctx, run),
    hostsCommand(ctx, run),
    printersCommand(ctx, run),
    profilesCommand(ctx, run),
    tokensCommand(ctx, run),
    rolloutCommand(ctx, run),
    rollbackCommand(ctx, run),
    buildCommand(ctx, run),
    completionCommand(run, () => root),
  ])
    root.addCommand(command);
  // Subcommands inherit the overrides, so a usage error anywhere ends with exit code 2.
  const inherit = (command: Command): void => {
    for (const sub of command.commands) {
      sub.exitOverride().configureOutput({ writeErr: (text) => process.stderr.write(text) });
      inherit(sub);
    }
  };
  inherit(root);
  return root;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const out = new Output(argv.includes('--json'));
  const ctx = new Context(out, env);
  try {
    await program(ctx).parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? EXIT.ok);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end with 0; everything else commander refuses is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      out.error(error.message);
      return error.exitCode;
    }
    out.error(`unexpected error: ${(error as Error).stack ?? String(error)}`);
    return EXIT.failed;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env).then((code) => {
    process.exitCode = code;
  });
}
