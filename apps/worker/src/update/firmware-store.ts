import type { UpdateStep } from '@lockstep/contracts';
import type { PrinterHost } from '../host/printer-host';
import { shellCommand, shellQuote } from '../ssh/shell-quote';

export const BUILD_DICT_MARK = '@@LOCKSTEP-DICT@@';
export const BUILD_SHA_MARK = '@@LOCKSTEP-SHA256@@';

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

const VERSION_PATH = /^[A-Za-z0-9._+-]{1,120}$/;

/**
 * Firmware built by Lockstep, kept on the printer host per Klipper version and Kconfig hash:
 * ~/.lockstep/firmware/<version>/<kconfigHash>/ with a manifest of SHA-256 sums, so a rollback
 * flashes stored binaries (checked before use) instead of rebuilding.
 */
export class FirmwareStore {
  constructor(private readonly host: PrinterHost) {}

  get root(): string {
    return `${this.host.lockstepDir}/firmware`;
  }

  dir(version: string, hash?: string): string {
    if (!VERSION_PATH.test(version))
      throw new Error(`version ${JSON.stringify(version)} cannot name a firmware folder`);
    return hash ? `${this.root}/${version}/${hash}` : `${this.root}/${version}`;
  }

  async manifest(step: UpdateStep, version: string): Promise<FirmwareManifest | null> {
    const text = await this.host.readFile(step, `${this.dir(version)}/manifest.json`);
    if (text === null) return null;
    try {
      return JSON.parse(text) as FirmwareManifest;
    } catch {
      return null;
    }
  }

  /** Whether a build is stored and its files still have their recorded SHA-256. */
  async verify(step: UpdateStep, version: string, hash: string): Promise<boolean> {
    return (await this.verified(step, version, [hash])).has(hash);
  }

  /** The builds among `hashes` that are stored intact (one manifest read, one checksum run). */
  async verified(step: UpdateStep, version: string, hashes: string[]): Promise<Set<string>> {
    const manifest = await this.manifest(step, version);
    const lines: string[] = [];
    const wanted = hashes.filter((hash) => Object.keys(manifest?.builds[hash]?.files ?? {}).length > 0);
    for (const hash of wanted) {
      for (const [file, sha] of Object.entries(manifest!.builds[hash]!.files)) {
        lines.push(`${sha}  ${this.dir(version, hash)}/${file}`);
      }
    }
    if (lines.length === 0) return new Set();
    const result = await this.host.run(
      step,
      'sha256sum --check - 2>/dev/null; true',
      undefined,
      lines.join('\n') + '\n',
    );
    const ok = new Set(
      result.stdout
        .split('\n')
        .filter((line) => line.endsWith(': OK'))
        .map((line) => line.slice(0, -': OK'.length)),
    );
    return new Set(
      wanted.filter((hash) =>
        Object.keys(manifest!.builds[hash]!.files).every((file) =>
          ok.has(`${this.dir(version, hash)}/${file}`),
        ),
      ),
    );
  }

  /** Adds builds to a version's manifest (one read, one atomic write). */
  async save(
    step: UpdateStep,
    version: string,
    commit: string,
    builds: Record<string, StoredBuild>,
  ): Promise<void> {
    const manifest = (await this.manifest(step, version)) ?? {
      version,
      commit,
      createdAt: new Date().toISOString(),
      builds: {},
    };
    Object.assign(manifest.builds, builds);
    await this.host.writeFile(step, `${this.dir(version)}/manifest.json`, JSON.stringify(manifest, null, 2));
  }

  /** Versions with a manifest, newest first. */
  async versions(step: UpdateStep): Promise<FirmwareManifest[]> {
    const out = await this.host.run(
      step,
      `cat ${shellQuote(this.root)}/*/manifest.json 2>/dev/null | tr '\\n' ' '`,
    );
    const manifests: FirmwareManifest[] = [];
    // Manifests are pretty-printed objects; split on the boundary between them.
    for (const chunk of out.stdout.replace(/}\s*{/g, '}\u0000{').split('\u0000')) {
      try {
        if (chunk.trim()) manifests.push(JSON.parse(chunk) as FirmwareManifest);
      } catch {
        // a damaged manifest is ignored; its folder is pruned with the others
      }
    }
    return manifests.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  /** Keeps the newest `keep` versions plus the protected ones; removes the rest. */
  async prune(step: UpdateStep, keep: number, protect: string[]): Promise<string[]> {
    const versions = await this.versions(step);
    const remove = versions
      .filter((m, index) => index >= keep && !protect.includes(m.version))
      .map((m) => m.version)
      .filter((v) => VERSION_PATH.test(v));
    if (remove.length > 0) {
      await this.host.check(
        step,
        'pruning old firmware',
        shellCommand(['rm', '-rf', ...remove.map((v) => this.dir(v))]),
      );
    }
    return remove;
  }
}
