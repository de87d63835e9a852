import { createHash } from 'node:crypto';
import type { UpdateStep } from '@lockstep/contracts';
import { assertSafeVersion, FieldError, isFullCommitId } from '@lockstep/mcu';
import type { PrinterHost } from './printer-host';
import { RemoteCommandError } from './remote-command-error';
import { shellCommand, shellQuote } from './shell-quote';

export interface StoredBuild {
  /** Artifact file name to SHA-256. */
  files: Record<string, string>;
}

export interface FirmwareManifest {
  version: string;
  commit: string;
  createdAt: string;
  builds: Record<string, StoredBuild>;
}

const HASH = /^[0-9a-f]{64}$/;
const ARTIFACT = /^klipper\.[a-z0-9]{1,8}$/;
const STAMP = /^\d{4}-\d\d-\d\dT[0-9:.]+Z$/;
const DIR_MARK = '@@LOCKSTEP-DIR@@';
/** Between a manifest and the checksums of its builds in one command's output. */
const SUMS_MARK = '@@LOCKSTEP-SUMS@@';

/** A manifest read back from the host; anything that does not look as Lockstep wrote it is null. */
function parseManifest(text: string, version: string): FirmwareManifest | null {
  let value: Partial<FirmwareManifest>;
  try {
    value = JSON.parse(text) as Partial<FirmwareManifest>;
  } catch {
    return null;
  }
  if (value?.version !== version || typeof value.commit !== 'string' || !isFullCommitId(value.commit))
    return null;
  if (typeof value.createdAt !== 'string' || !STAMP.test(value.createdAt)) return null;
  const builds: Record<string, StoredBuild> = {};
  for (const [hash, build] of Object.entries(value.builds ?? {})) {
    const files = Object.entries(build?.files ?? {});
    if (!HASH.test(hash) || !files.every(([file, sha]) => ARTIFACT.test(file) && HASH.test(String(sha))))
      return null;
    builds[hash] = { files: Object.fromEntries(files) as Record<string, string> };
  }
  return { version, commit: value.commit, createdAt: value.createdAt, builds };
}

function safeVersion(version: string): boolean {
  try {
    assertSafeVersion(version, 'version');
    return true;
  } catch (error) {
    if (error instanceof FieldError) return false;
    throw error;
  }
}

/**
 * Firmware built by Lockstep, kept on the printer host per Klipper version and Kconfig hash:
 * ~/.lockstep/firmware/<version>/<kconfigHash>/ with a manifest of SHA-256 sums, so a rollback
 * flashes stored binaries (checked before use) instead of rebuilding. Every version and hash
 * that names a folder is validated first, including those read back from the host.
 */
export class FirmwareStore {
  constructor(private readonly host: PrinterHost) {}

  get root(): string {
    return `${this.host.lockstepDir}/firmware`;
  }

  dir(version: string, hash?: string): string {
    assertSafeVersion(version, 'firmware version');
    if (hash !== undefined && !HASH.test(hash)) throw new FieldError('kconfigHash', `not a SHA-256: ${hash}`);
    return hash ? `${this.root}/${version}/${hash}` : `${this.root}/${version}`;
  }

  async manifest(step: UpdateStep, version: string): Promise<FirmwareManifest | null> {
    const text = await this.host.readFile(step, `${this.dir(version)}/manifest.json`);
    return text === null ? null : parseManifest(text, version);
  }

  /**
   * The builds among `hashes` that are stored intact: one command reads the version's manifest
   * and hashes the files in those builds' folders, and a build counts only when every file its
   * manifest names is there with that SHA-256 (a command per question would cost the host a
   * process start each, before every flash).
   */
  async verified(step: UpdateStep, version: string, hashes: readonly string[]): Promise<Set<string>> {
    const manifestPath = `${this.dir(version)}/manifest.json`;
    const folders = hashes.map((hash) => `${shellQuote(this.dir(version, hash))}/*`);
    const result = await this.host.run(
      `cat ${shellQuote(manifestPath)} 2>/dev/null; printf '\\n%s\\n' ${SUMS_MARK}` +
        (folders.length > 0 ? `; sha256sum -- ${folders.join(' ')} 2>/dev/null` : '') +
        '; true',
    );
    const mark = result.stdout.lastIndexOf(`\n${SUMS_MARK}\n`);
    if (result.code !== 0 || mark < 0)
      throw new RemoteCommandError(step, `reading ${manifestPath} and its builds' SHA-256`, result);
    const manifest = parseManifest(result.stdout.slice(0, mark), version);
    const sums = new Map<string, string>();
    for (const line of result.stdout.slice(mark + SUMS_MARK.length + 2).split('\n')) {
      const sum = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
      if (sum) sums.set(sum[2]!, sum[1]!);
    }
    return new Set(
      hashes.filter((hash) => {
        const files = Object.entries(manifest?.builds[hash]?.files ?? {});
        return (
          files.length > 0 &&
          files.every(([file, sha]) => sums.get(`${this.dir(version, hash)}/${file}`) === sha)
        );
      }),
    );
  }

  /** Adds builds to a version's manifest (one read, one atomic write). */
  async save(
    step: UpdateStep,
    version: string,
    commit: string,
    builds: Record<string, StoredBuild>,
    createdAt: string,
  ): Promise<void> {
    const manifest = (await this.manifest(step, version)) ?? { version, commit, createdAt, builds: {} };
    Object.assign(manifest.builds, builds);
    await this.host.writeFile(step, `${this.dir(version)}/manifest.json`, JSON.stringify(manifest, null, 2));
  }

  /**
   * Puts builds of one version made elsewhere in the store: their files uploaded (SFTP) into a
   * folder beside each build's, their SHA-256 checked on the host, then the folders moved into
   * place and the builds added to the version's manifest. A build that does not arrive intact is
   * never used: one file that differs and none is moved. Four commands for all the builds.
   */
  async install(
    step: UpdateStep,
    version: string,
    commit: string,
    builds: ReadonlyMap<string, ReadonlyMap<string, Buffer>>,
    createdAt: string,
  ): Promise<void> {
    // Every name checked before any command: a hash that is not a SHA-256 or a file that is not
    // an artifact stops the install with nothing on the host touched.
    const placed = [...builds].map(([hash, files]) => {
      const dir = this.dir(version, hash);
      return { hash, dir, incoming: `${this.dir(version)}/.incoming-${hash}`, files };
    });
    const stored: Record<string, StoredBuild> = {};
    const sums: string[] = [];
    for (const { hash, incoming, files } of placed) {
      const build: StoredBuild = { files: {} };
      for (const [file, data] of files) {
        if (!ARTIFACT.test(file)) throw new FieldError('file', `not a firmware artifact: ${file}`);
        const sha = createHash('sha256').update(data).digest('hex');
        build.files[file] = sha;
        sums.push(`${sha}  ${incoming}/${file}\n`);
      }
      stored[hash] = build;
    }
    if (placed.length === 0) return;
    const folders = placed.map((p) => p.incoming);
    await this.host.check(
      step,
      'preparing the firmware upload',
      `${shellCommand(['rm', '-rf', '--', ...folders])} && ${shellCommand(['mkdir', '-p', '--', ...folders])}`,
    );
    for (const { incoming, files } of placed) {
      for (const [file, data] of files) await this.host.uploadFile(step, `${incoming}/${file}`, data);
    }
    const moves = placed.map(
      ({ dir, incoming }) => `rm -rf ${shellQuote(dir)} && mv ${shellQuote(incoming)} ${shellQuote(dir)}`,
    );
    await this.host.check(
      step,
      `checking the uploaded firmware of ${version} on the host`,
      ['sha256sum --check --strict -', ...moves].join(' && '),
      { stdin: sums.join('') },
    );
    await this.save(step, version, commit, stored, createdAt);
  }

  /** Stored versions, newest first: folder names that are versions, with a manifest of that version. */
  async versions(step: UpdateStep): Promise<FirmwareManifest[]> {
    const out = await this.host.check(
      step,
      'listing stored firmware',
      `cd ${shellQuote(this.root)} 2>/dev/null || exit 0; for d in */; do printf '%s%s\\n' ${DIR_MARK} "\${d%/}"; cat "$d/manifest.json" 2>/dev/null; echo; done`,
    );
    const manifests: FirmwareManifest[] = [];
    for (const chunk of out.split(DIR_MARK).slice(1)) {
      const newline = chunk.indexOf('\n');
      const name = chunk.slice(0, newline);
      const manifest = safeVersion(name) ? parseManifest(chunk.slice(newline + 1), name) : null;
      if (manifest) manifests.push(manifest);
    }
    return manifests.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Keeps the newest `keep` versions plus the protected ones; removes the rest (validated names only). */
  async prune(step: UpdateStep, keep: number, protect: readonly string[]): Promise<string[]> {
    const remove = (await this.versions(step))
      .filter((m, index) => index >= keep && !protect.includes(m.version))
      .map((m) => m.version);
    if (remove.length > 0) {
      await this.host.check(
        step,
        'pruning old firmware',
        shellCommand(['rm', '-rf', '--', ...remove.map((v) => this.dir(v))]),
      );
    }
    return remove;
  }
}
