import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { assertSafeVersion } from '@lockstep/mcu';

const HASH = /^[0-9a-f]{64}$/;
const FILE = /^(klipper\.(bin|elf|uf2|dict)|build\.json)$/;
/** A build's files are at most a few MB; a Linux MCU about 1 MB. */
const MAX_BYTES = 64 << 20;
const HTTP_TIMEOUT_MS = 60_000;

export class ArtifactStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArtifactStoreError';
  }
}

/**
 * Firmware built once on a build host, kept by version and Kconfig hash:
 * `<version>/<kconfigHash>/<file>` under a directory or an HTTP base URL. Every name is validated
 * before it becomes a path or a URL.
 */
export interface ArtifactStore {
  /** Where it is, for messages (never with its token). */
  readonly location: string;
  /** The file's bytes, or null when the store has no such file. */
  read(version: string, kconfigHash: string, file: string): Promise<Buffer | null>;
  write(version: string, kconfigHash: string, file: string, data: Buffer): Promise<void>;
}

function relativePath(version: string, kconfigHash: string, file: string): string {
  assertSafeVersion(version, 'artifact version');
  if (!HASH.test(kconfigHash)) throw new ArtifactStoreError(`not a Kconfig hash: ${kconfigHash}`);
  if (!FILE.test(file)) throw new ArtifactStoreError(`not an artifact file name: ${file}`);
  return `${version}/${kconfigHash}/${file}`;
}

export class DirectoryArtifactStore implements ArtifactStore {
  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async read(version: string, kconfigHash: string, file: string): Promise<Buffer | null> {
    const path = join(this.root, relativePath(version, kconfigHash, file));
    try {
      const data = await readFile(path);
      if (data.length > MAX_BYTES) throw new ArtifactStoreError(`${path} is larger than ${MAX_BYTES} bytes`);
      return data;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      if (error instanceof ArtifactStoreError) throw error;
      throw new ArtifactStoreError(`cannot read ${path}: ${(error as Error).message}`);
    }
  }

  /** Atomic: a temporary file beside it, renamed over it. */
  async write(version: string, kconfigHash: string, file: string, data: Buffer): Promise<void> {
    const path = join(this.root, relativePath(version, kconfigHash, file));
    await mkdir(dirname(path), { recursive: true });
    const staged = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(staged, data, { mode: 0o644 });
    await rename(staged, path);
  }
}

/** An HTTP store: GET and PUT `<base>/<version>/<hash>/<file>`, with a bearer token when given. */
export class HttpArtifactStore implements ArtifactStore {
  private readonly base: string;

  constructor(
    base: string,
    private readonly token: string | undefined,
  ) {
    this.base = base.replace(/\/+$/, '');
  }

  get location(): string {
    return this.base;
  }

  private headers(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  async read(version: string, kconfigHash: string, file: string): Promise<Buffer | null> {
    const url = `${this.base}/${relativePath(version, kconfigHash, file)}`;
    let response: Response;
    try {
      response = await fetch(url, { headers: this.headers(), signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
    } catch (error) {
      throw new ArtifactStoreError(`GET ${url}: ${(error as Error).message}`);
    }
    if (response.status === 404) return null;
    if (!response.ok) throw new ArtifactStoreError(`GET ${url}: HTTP ${response.status}`);
    const data = Buffer.from(await response.arrayBuffer());
    if (data.length > MAX_BYTES) throw new ArtifactStoreError(`GET ${url}: larger than ${MAX_BYTES} bytes`);
    return data;
  }

  async write(version: string, kconfigHash: string, file: string, data: Buffer): Promise<void> {
    const url = `${this.base}/${relativePath(version, kconfigHash, file)}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'PUT',
        headers: { ...this.headers(), 'content-type': 'application/octet-stream' },
        body: data,
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ArtifactStoreError(`PUT ${url}: ${(error as Error).message}`);
    }
    if (!response.ok) throw new ArtifactStoreError(`PUT ${url}: HTTP ${response.status}`);
  }
}

/** The store the worker's configuration names: an absolute directory or an http(s) base URL. */
export function openArtifactStore(
  location: string | undefined,
  token: string | undefined,
): ArtifactStore | null {
  if (location === undefined || location === '') return null;
  if (/^https?:\/\//.test(location)) return new HttpArtifactStore(location, token);
  return new DirectoryArtifactStore(location);
}
