import { join, resolve } from 'node:path';

/** Where farms keep their state in the root namespace (outside /tmp, which hosts replace). */
export const FARM_ROOT = '/var/lib/lockstep-farm';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const FARM_SOURCE = resolve(__dirname);
export const HOST_TOOLS = join(FARM_SOURCE, 'host-tools');

export function farmDir(farmId: string): string {
  return join(FARM_ROOT, farmId);
}
