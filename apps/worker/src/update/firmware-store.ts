import type { UpdateStep } from '@lockstep/contracts';
import type { PrinterHost } from '../host/printer-host';
import { shellCommand, shellQuote } from '../ssh/shell-quote';

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

const ARTIFACTS = ['klipper.elf', 'klipper.bin', 'klipper.uf2', 'klipper.dict'];
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
    const manifest = await this.manifest(step, version);
    const build = manifest?.builds[hash];
    if (!build || Object.keys(build.files).length === 0) return false;
    const dir = this.dir(version, hash);
    const check = Object.entries(build.files)
      .map(([file, sha]) => `${sha}  ${dir}/${file}`)
      .join('\n');
    const result = await this.host.run(step, 'sha256sum --check --status -', undefined, check + '\n');
    return result.code === 0;
  }

  /** Records the artifacts a build left in its folder. */
  async record(step: UpdateStep, version: string, commit: string, hash: string): Promise<StoredBuild> {
    const dir = this.dir(version, hash);
    const out = await this.host.check(
      step,
      'hashing firmware',
      `cd ${shellQuote(dir)} && for f in ${ARTIFACTS.join(' ')}; do [ -e "$f" ] && sha256sum "$f"; done; true`,
    );
    const files: Record<string, string> = {};
    for (const line of out.split('\n')) {
      const match = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line.trim());
      if (match) files[match[2]!] = match[1]!;
    }
    const manifest = (await this.manifest(step, version)) ?? {
      version,
      commit,
      createdAt: new Date().toISOString(),
      builds: {},
    };
    manifest.builds[hash] = { files };
    await this.host.writeFile(step, `${this.dir(version)}/manifest.json`, JSON.stringify(manifest, null, 2));
    return manifest.builds[hash]!;
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
