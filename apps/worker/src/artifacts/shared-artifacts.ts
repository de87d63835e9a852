import { createHash } from 'node:crypto';
import type { ArtifactStore } from './artifact-store';

/** A file of the store as a job asked for it by its SHA-256. */
export type SharedRead =
  | { found: true; data: Buffer }
  | { found: false; missing: true }
  | { found: false; missing: false; sha256: string };

interface Read {
  data: Buffer;
  sha256: string;
}

/**
 * The artifact store as the update jobs running at once read it. Every job of a rollout fetches
 * the same few builds; each job still reads the store (reads of one file in flight at once are
 * one read) and checks the SHA-256 its job names, so a build changed in the store is refused
 * whatever other jobs hold. What is shared are the bytes: a job gets the buffer another job
 * already holds for the same file and SHA-256 rather than a copy of its own (a hundred jobs held
 * a hundred copies before), and nothing is kept once no job holds it. The jobs only read these
 * buffers (SFTP uploads, hashing).
 */
export class SharedArtifacts {
  private readonly held = new Map<string, WeakRef<Buffer>>();
  private readonly reading = new Map<string, Promise<Read | null>>();
  private readonly collected = new FinalizationRegistry<string>((key) => {
    if (this.held.get(key)?.deref() === undefined) this.held.delete(key);
  });

  constructor(private readonly store: ArtifactStore) {}

  /** Where the store is, for messages. */
  get location(): string {
    return this.store.location;
  }

  /** The file's bytes when they have `sha256`; otherwise whether it is missing or what it has. Store errors are thrown. */
  async read(version: string, kconfigHash: string, file: string, sha256: string): Promise<SharedRead> {
    const read = await this.readOnce(version, kconfigHash, file);
    if (read === null) return { found: false, missing: true };
    if (read.sha256 !== sha256) return { found: false, missing: false, sha256: read.sha256 };
    const key = `${version}/${kconfigHash}/${file}@${sha256}`;
    const kept = this.held.get(key)?.deref();
    if (kept) return { found: true, data: kept };
    this.held.set(key, new WeakRef(read.data));
    this.collected.register(read.data, key);
    return { found: true, data: read.data };
  }

  private readOnce(version: string, kconfigHash: string, file: string): Promise<Read | null> {
    const key = `${version}/${kconfigHash}/${file}`;
    const pending = this.reading.get(key);
    if (pending) return pending;
    const read = this.store
      .read(version, kconfigHash, file)
      .then((data) =>
        data === null ? null : { data, sha256: createHash('sha256').update(data).digest('hex') },
      );
    this.reading.set(key, read);
    const done = (): void => {
      if (this.reading.get(key) === read) this.reading.delete(key);
    };
    read.then(done, done);
    return read;
  }
}
