import {
  appendFileSync,
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './command';
import { FARM_SOURCE } from './paths';

/** An edit a commit makes to a file of the tree: `replace` with `by`, or append `add`. */
export interface TreeEdit {
  file: string;
  replace?: string;
  by?: string;
  add?: string;
}

export interface KlipperRelease {
  /** undefined: an untagged commit. */
  tag?: string;
  note: string;
  edits?: TreeEdit[];
}

/** Host software looks up `config` with is_shutdown from v0.13.0 on; older MCUs fail that lookup. */
const V0_13_CONFIG_RESPONSE: TreeEdit = {
  file: 'src/protocol.def',
  replace: 'response core     connect   config is_config=%c crc=%u move_count=%hu\n',
  by: 'response core     connect   config is_config=%c crc=%u is_shutdown=%c move_count=%hu\n',
};

/** Sensors added in v0.13.0: new commands only, which no existing format depends on. */
const V0_13_SENSORS: TreeEdit = {
  file: 'src/protocol.def',
  add: [
    'command  sensors  -         config_ads131m0x oid=%c spi_oid=%c channel=%c num_channels=%c data_ready_pin=%u',
    'command  sensors  -         query_ads131m0x oid=%c rest_ticks=%u',
    'command  sensors  -         query_ads131m0x_status oid=%c',
    'shutdown sensors  -         Invalid ads131m0x channels configuration',
    'command  sensors  -         config_trigger_analog oid=%c sos_filter_oid=%c',
    'command  sensors  -         trigger_analog_set_raw_range oid=%c raw_min=%i raw_max=%i',
    'command  sensors  -         trigger_analog_set_trigger oid=%c trigger_analog_type=%c trigger_value=%i',
    'command  sensors  -         trigger_analog_home oid=%c trsync_oid=%c trigger_reason=%c error_reason=%c clock=%u monitor_ticks=%u monitor_max=%u',
    'command  sensors  -         trigger_analog_query_state oid=%c',
    'response sensors  -         trigger_analog_state oid=%c homing=%c homing_clock=%u',
    '',
  ].join('\n'),
};

/** Klipper PR #7357: the build embeds its savedefconfig output in the data dictionary. */
const EMBED_DEFCONFIG: TreeEdit = {
  file: 'Makefile',
  replace: '$(SIM)/klipper_build.py "$(KCONFIG_CONFIG)" "$(OUT)"\n',
  by: '$(SIM)/klipper_build.py "$(KCONFIG_CONFIG)" "$(OUT)" --embed-defconfig\n',
};

/**
 * Releases of the simulated Klipper tree, oldest first. v0.12.0 -> v0.13.0 changes a command
 * format (firmware from before it gives klippy's MCU Protocol error); the commits after v0.13.0
 * keep every format, so their firmware runs under any of them.
 */
export const KLIPPER_RELEASES: KlipperRelease[] = [
  { tag: 'v0.12.0', note: 'Release v0.12.0' },
  { note: 'stm32: faster USB enumeration' },
  { note: 'mcu: report is_shutdown in the config response', edits: [V0_13_CONFIG_RESPONSE] },
  { note: 'sensors: add ads131m0x and trigger_analog', edits: [V0_13_SENSORS] },
  { note: 'toolhead: lookahead tuning' },
  { tag: 'v0.13.0', note: 'Release v0.13.0' },
  { note: 'canbus: node id assignment retries' },
  { note: 'build: expose minimal Kconfig in MCU identify data', edits: [EMBED_DEFCONFIG] },
  { note: 'docs: note the kconfig field of the mcu object' },
];

function applyEdits(tree: string, edits: readonly TreeEdit[]): void {
  for (const edit of edits) {
    const path = join(tree, edit.file);
    let text = readFileSync(path, 'utf8');
    if (edit.replace !== undefined) {
      if (!text.includes(edit.replace))
        throw new Error(`${edit.file} has no '${edit.replace.trim()}' to replace`);
      text = text.replace(edit.replace, edit.by ?? '');
    }
    if (edit.add !== undefined) text += edit.add;
    writeFileSync(path, text);
  }
}

const COMMIT_ENV = {
  // The farm (root) works on repositories owned by the hosts' user.
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: 'safe.directory',
  GIT_CONFIG_VALUE_0: '*',
  GIT_AUTHOR_NAME: 'Simulated Klipper',
  GIT_AUTHOR_EMAIL: 'klipper@farm.invalid',
  GIT_COMMITTER_NAME: 'Simulated Klipper',
  GIT_COMMITTER_EMAIL: 'klipper@farm.invalid',
};

async function git(
  cwd: string,
  args: string[],
  date?: string,
  user?: { uid: number; gid: number; home: string },
): Promise<string> {
  const env = {
    ...process.env,
    ...COMMIT_ENV,
    ...(date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : {}),
    ...(user ? { HOME: user.home } : {}),
  };
  const { stdout } = await run('git', args, { cwd, env, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
  return stdout.trim();
}

/**
 * Builds a bare repository from a template folder with one commit per release; fixed dates and
 * authors give the same commit hashes on every run, so versions are stable between farms.
 */
async function createUpstream(
  template: string,
  target: string,
  releases: readonly KlipperRelease[],
): Promise<void> {
  const work = `${target}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await git(work, ['init', '-q', '--initial-branch=master']);
  cpSync(template, work, { recursive: true });
  let day = 1;
  for (const release of releases) {
    applyEdits(work, release.edits ?? []);
    appendFileSync(join(work, 'docs', 'Changes.md'), `- ${release.note}\n`);
    await git(work, ['add', '-A']);
    const date = `2026-${String(Math.min(day, 12)).padStart(2, '0')}-01T12:00:00Z`;
    await git(work, ['commit', '-q', '-m', release.note], date);
    if (release.tag) await git(work, ['tag', '-a', release.tag, '-m', release.note], date);
    day += 1;
  }
  await run('git', ['clone', '-q', '--bare', work, target]);
  rmSync(work, { recursive: true, force: true });
}

export async function createKlipperUpstream(target: string): Promise<void> {
  await createUpstream(join(FARM_SOURCE, 'klipper-template'), target, KLIPPER_RELEASES);
}

export async function createKatapultUpstream(target: string): Promise<void> {
  await createUpstream(join(FARM_SOURCE, 'katapult-template'), target, [{ tag: 'v0.0.1', note: 'Katapult' }]);
}

/** Adds a commit to a farm's upstream Klipper repository, as a new upstream release would. */
export async function publishKlipperCommit(upstream: string, note: string, tag?: string): Promise<string> {
  // As the repository's owner (the hosts' user): git serves a local clone only to its owner.
  const { uid, gid } = statSync(upstream);
  const work = mkdtempSync(join(tmpdir(), 'lockstep-publish-'));
  chownSync(work, uid, gid);
  const asOwner = (cwd: string, args: string[]): Promise<string> =>
    git(cwd, args, undefined, { uid, gid, home: work });
  try {
    await asOwner(work, ['clone', '-q', upstream, 'klipper']);
    const clone = join(work, 'klipper');
    appendFileSync(join(clone, 'docs', 'Changes.md'), `- ${note}\n`);
    await asOwner(clone, ['commit', '-q', '-am', note]);
    if (tag) await asOwner(clone, ['tag', '-a', tag, '-m', note]);
    await asOwner(clone, ['push', '-q', '--follow-tags', 'origin', 'master']);
    return await asOwner(clone, ['rev-parse', 'HEAD']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
