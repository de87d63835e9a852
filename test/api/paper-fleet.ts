import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';

/** A host key line for hosts no test connects to. */
export const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

/** A host no worker reaches (10.0.0.N): one printer, voron-N, with every kind of board. */
export const paperHost = (n: number) => ({
  id: `pi-${n}`,
  address: `10.0.0.${n}`,
  user: 'pi',
  hostKey: HOST_KEY,
  groups: ['hall-a'],
  instances: [
    {
      printerId: `voron-${n}`,
      service: 'klipper',
      printerConfig: '~/printer_data/config/printer.cfg',
      moonrakerPort: 7125,
      mcus: voronInventory(),
    },
  ],
});

/** A Klipper origin in `dir` with one empty commit per tag, owned by the test's user, so refs resolve without a network. */
export function klipperOrigin(
  dir: string,
  tags: readonly string[] = ['v0.12.0', 'v0.13.0'],
): { path: string; commits: Record<string, string> } {
  const work = join(dir, 'work');
  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', work, ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'k',
        GIT_AUTHOR_EMAIL: 'k@x.invalid',
        GIT_COMMITTER_NAME: 'k',
        GIT_COMMITTER_EMAIL: 'k@x.invalid',
      },
    })
      .toString()
      .trim();
  execFileSync('git', ['init', '-q', '-b', 'master', work]);
  const commits: Record<string, string> = {};
  for (const tag of tags) {
    git('commit', '-q', '--allow-empty', '-m', tag);
    git('tag', tag);
    commits[tag] = git('rev-parse', 'HEAD');
  }
  execFileSync('git', ['clone', '-q', '--bare', work, join(dir, 'klipper.git')]);
  return { path: join(dir, 'klipper.git'), commits };
}
