import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Context } from '../context';
import { program } from '../main';
import { Output } from '../output';

const ROOT = join(__dirname, '..', '..', '..', '..');
const hasZsh = spawnSync('zsh', ['-c', 'exit 0']).status === 0;

/** The script as a user gets it: `fleetctl completion <shell>` run as a process. */
function script(shell: string): string {
  return execFileSync(
    process.execPath,
    ['-r', './tools/register.js', 'apps/cli/src/main.ts', 'completion', shell],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LOCKSTEP_URL: '', LOCKSTEP_TOKEN: '' } },
  );
}

const BASH_CASES: [string[], string[]][] = [
  [['rol'], ['rollback', 'rollout']],
  [['rollout', 'cr'], ['create']],
  [['rollout', 'create', '--ca'], ['--canary']],
  [
    ['rollout', ''],
    ['--help', 'cancel', 'create', 'list', 'pause', 'resume', 'retry', 'status'],
  ],
  [['--json', 'rollout', 'st'], ['status']],
  [['rollout', 'create', '--to', 'v0.13.0', '--dr'], ['--dry-run']],
  [
    ['rollout', 'create', '--group', 'shelf-a', '--wai'],
    ['--wait', '--wait-idle'],
  ],
  [
    ['rollout', 'status', 'r1', '--'],
    ['--help', '--wait'],
  ],
  [['hosts', 'add', '--ho'], ['--host-key']],
  [['build', 'pr'], ['promote']],
  [['build', 'promote', 'b1', '--on'], ['--on-failure']],
  [['tokens', 'create', '--role', 'ci', '--n'], ['--name']],
  [['completion', '--'], ['--help']],
  [['x'], []],
  [['rollout', 'zz'], []],
];

let dir: string;
const bashOffered = new Map<string[], string[]>();
const files: Record<string, string> = {};
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetctl-completion-'));
  for (const shell of hasZsh ? ['bash', 'zsh'] : ['bash']) {
    files[shell] = join(dir, `fleetctl.${shell}`);
    writeFileSync(files[shell], script(shell));
  }
  const offered = bashComplete(BASH_CASES.map(([words]) => words));
  BASH_CASES.forEach(([words], i) => bashOffered.set(words, offered[i]!));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * What bash offers after `fleetctl <words>` with the cursor on the last word, for each list of
 * words: one bash process runs them all (a line each, words separated by \x1f), sourcing the script
 * and calling _fleetctl as bash's completion would.
 */
function bashComplete(cases: string[][]): string[][] {
  const out = execFileSync(
    'bash',
    [
      '--norc',
      '--noprofile',
      '-c',
      `source "$1" || exit 9
while IFS=$'\x1f' read -ra words; do
  COMP_WORDS=(fleetctl "\${words[@]}"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _fleetctl
  printf '%s\\n' "\${COMPREPLY[*]}"
done`,
      'bash',
      files.bash!,
    ],
    // A separator after the last word too, so that an empty last word is kept.
    { encoding: 'utf8', input: cases.map((words) => `${words.join('\x1f')}\x1f\n`).join('') },
  );
  return out
    .split('\n')
    .slice(0, cases.length)
    .map((line) => line.split(' ').filter(Boolean).sort());
}

/** Every command path of the real program with the words that may follow it. */
function paths(command: Command, prefix: string[] = []): { path: string[]; words: string[] }[] {
  const words = [
    ...command.commands.map((c) => c.name()),
    ...command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))),
    '--help',
  ];
  return [
    { path: prefix, words: words.sort() },
    ...command.commands.flatMap((c) => paths(c, [...prefix, c.name()])),
  ];
}

describe('fleetctl completion bash', () => {
  it('is a script bash accepts, registering _fleetctl for fleetctl', () => {
    const out = execFileSync(
      'bash',
      ['--norc', '--noprofile', '-c', 'source "$1" && complete -p fleetctl', 'bash', files.bash!],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe('complete -F _fleetctl fleetctl');
  });

  it.each(BASH_CASES)('fleetctl %j offers %j', (words, offered) => {
    expect(bashOffered.get(words)).toEqual(offered);
  });

  it("lists after every command path exactly that command's subcommands and options", () => {
    const root = program(new Context(new Output(false), {}));
    const expected = paths(root).map(({ path, words }) => [path.join(' '), words]);
    expect(expected.length).toBeGreaterThan(20);
    const listed = [
      ...readFileSync(files.bash!, 'utf8').matchAll(/^ {4}"([a-z ]*)"\) words="([^"]*)" ;;$/gm),
    ];
    expect(listed.map(([, path, words]) => [path, words!.split(' ').sort()])).toEqual(expected);
  });
});

(hasZsh ? describe : describe.skip)(
  `fleetctl completion zsh${hasZsh ? '' : ' (skipped: zsh is not installed on this machine)'}`,
  () => {
    /** The candidates the script hands zsh after `fleetctl <words>` (zsh itself filters them by prefix). */
    function zshCandidates(...words: string[]): string[] {
      const out = execFileSync(
        'zsh',
        [
          '-f',
          '-c',
          'compdef() { :; }; compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }; source "$1" || exit 9; words=(fleetctl "${@:2}"); CURRENT=${#words}; _fleetctl',
          'zsh',
          files.zsh!,
          ...words,
        ],
        { encoding: 'utf8' },
      );
      return out.split('\n').filter(Boolean);
    }

    it.each([
      [['rol'], ['rollout', 'rollback']],
      [['rollout', 'cr'], ['create']],
      [['rollout', 'create', '--ca'], ['--canary']],
      [['--json', 'rollout', 'st'], ['status']],
    ])('fleetctl %j: the candidates include %j', (words, expected) => {
      const candidates = zshCandidates(...words);
      for (const word of expected) expect(candidates).toContain(word);
      const typed = words[words.length - 1]!;
      expect(candidates.filter((c) => c.startsWith(typed)).sort()).toEqual([...expected].sort());
    });
  },
);

if (!hasZsh) console.info('fleetctl completion zsh: not checked, zsh is not installed on this machine');
