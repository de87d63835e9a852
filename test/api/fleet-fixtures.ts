import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Farm, FarmHost } from '@lockstep/farm';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import { hostInstances, hostKeyLine, hostSpec } from '../e2e/harness';
import { call, type TestApi } from './api-harness';

/** A simulated host as an operator enrols it: its address, pinned key, CAN transport and instances. */
export function enrolment(host: FarmHost, groups: string[]) {
  const spec = hostSpec(host);
  return {
    id: host.name,
    address: host.address,
    user: host.sshUser,
    hostKey: hostKeyLine(host),
    groups,
    can: spec.canInterface
      ? {
          [spec.canInterface.name]: {
            type: 'unix',
            socket: `/run/lockstep-sim/${spec.canInterface.name}.sock`,
          },
        }
      : {},
    instances: hostInstances(host),
  };
}

/**
 * The fleet's Klipper origin as the API's user owns it: a bare clone of the farm's upstream (which
 * belongs to the printers' user), in a new directory; the caller removes the directory.
 */
export function ownedOrigin(farm: Farm): { dir: string; git: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-origin-'));
  const owner = statSync(farm.record.upstream);
  chownSync(dir, owner.uid, owner.gid);
  execFileSync('git', ['clone', '-q', '--bare', farm.record.upstream, join(dir, 'klipper.git')], {
    uid: owner.uid,
    gid: owner.gid,
    env: { PATH: process.env.PATH, HOME: dir },
  });
  execFileSync('chown', ['-R', `${process.getuid!()}:${process.getgid!()}`, dir]);
  return { dir, git: join(dir, 'klipper.git') };
}

/** The rollout once it no longer builds or runs (paused, or ended). */
export async function settled(api: TestApi, id: string, timeoutMs = 300_000): Promise<RolloutView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call<RolloutView>(api, 'GET', `/rollouts/${id}`, { token: api.admin });
    if (body.state !== 'running' && body.state !== 'building') return body;
    if (Date.now() > deadline)
      throw new Error(`rollout ${id} still ${body.state}: ${JSON.stringify(body)}\n${api.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
