import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FarmHost } from '@lockstep/farm';
import { enrolment } from '../../api/fleet-fixtures';
import type { Cleanup } from './cleanup';

export const GROUP = 'demo-hall';

/**
 * Each host's enrolment as an operator would write it for `fleetctl hosts add --file`: its
 * address, pinned host key, CAN transport and Klipper instances. The files go with `cleanup`.
 */
export function writeEnrolmentFiles(hosts: readonly FarmHost[], cleanup: Cleanup): Map<FarmHost, string> {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-demo-hosts-'));
  cleanup.add('the enrolment files', async () => rmSync(dir, { recursive: true, force: true }));
  return new Map(
    hosts.map((host) => {
      const file = join(dir, `${host.name}.json`);
      writeFileSync(file, `${JSON.stringify(enrolment(host, [GROUP]), null, 2)}\n`);
      return [host, file];
    }),
  );
}
