import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ArtifactStoreError, type ArtifactStore } from './artifact-store';
import { SharedArtifacts } from './shared-artifacts';

const VERSION = 'v0.13.0-0-g5b86b1f';
const HASH = 'a'.repeat(64);
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A store that counts its reads and answers each one with a fresh copy of the file, as a disk read does. */
class CountingStore implements ArtifactStore {
  readonly location = '/var/lib/lockstep/artifacts';
  readonly files = new Map<string, Buffer>();
  reads = 0;
  failNext = false;

  async read(version: string, kconfigHash: string, file: string): Promise<Buffer | null> {
    this.reads++;
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new ArtifactStoreError('cannot read: EIO');
    }
    const data = this.files.get(`${version}/${kconfigHash}/${file}`);
    return data ? Buffer.from(data) : null;
  }

  async write(): Promise<void> {
    throw new Error('not used');
  }
}

function storeWith(file: string, data: Buffer): CountingStore {
  const store = new CountingStore();
  store.files.set(`${VERSION}/${HASH}/${file}`, data);
  return store;
}

describe('SharedArtifacts', () => {
  const elf = Buffer.from('\x7fELF linux mcu');

  it('reads a file once for the jobs that ask for it at once, and they share its bytes', async () => {
    const store = storeWith('klipper.elf', elf);
    const shared = new SharedArtifacts(store);
    const reads = await Promise.all(
      Array.from({ length: 100 }, () => shared.read(VERSION, HASH, 'klipper.elf', sha(elf))),
    );
    expect(store.reads).toBe(1);
    const first = reads[0]!;
    if (!first.found) throw new Error('not found');
    expect(first.data.equals(elf)).toBe(true);
    for (const read of reads) expect(read.found && read.data).toBe(first.data);
  });

  it('gives a later job the bytes an earlier one still holds, read and checked again', async () => {
    const store = storeWith('klipper.elf', elf);
    const shared = new SharedArtifacts(store);
    const held = await shared.read(VERSION, HASH, 'klipper.elf', sha(elf));
    const later = await shared.read(VERSION, HASH, 'klipper.elf', sha(elf));
    expect(store.reads).toBe(2);
    expect(later.found && held.found && later.data === held.data).toBe(true);
  });

  it('refuses a build changed in the store while another job still holds its bytes', async () => {
    const store = storeWith('klipper.elf', elf);
    const shared = new SharedArtifacts(store);
    const held = await shared.read(VERSION, HASH, 'klipper.elf', sha(elf));
    const changed = Buffer.from('not the build');
    store.files.set(`${VERSION}/${HASH}/klipper.elf`, changed);
    const later = await shared.read(VERSION, HASH, 'klipper.elf', sha(elf));
    expect(held.found).toBe(true);
    expect(later).toEqual({ found: false, missing: false, sha256: sha(changed) });
  });

  it('reports what the store holds when the job names another SHA-256', async () => {
    const shared = new SharedArtifacts(storeWith('klipper.elf', elf));
    await expect(shared.read(VERSION, HASH, 'klipper.elf', 'b'.repeat(64))).resolves.toEqual({
      found: false,
      missing: false,
      sha256: sha(elf),
    });
  });

  it('reads a build written again in the store, whose sum the job names', async () => {
    const store = storeWith('klipper.elf', elf);
    const shared = new SharedArtifacts(store);
    const before = await shared.read(VERSION, HASH, 'klipper.elf', sha(elf));
    const rebuilt = Buffer.from('\x7fELF linux mcu, built again');
    store.files.set(`${VERSION}/${HASH}/klipper.elf`, rebuilt);
    const after = await shared.read(VERSION, HASH, 'klipper.elf', sha(rebuilt));
    expect(before.found && before.data.equals(elf)).toBe(true);
    expect(after.found && after.data.equals(rebuilt)).toBe(true);
  });

  it('says when the store has no such file', async () => {
    const shared = new SharedArtifacts(new CountingStore());
    await expect(shared.read(VERSION, HASH, 'klipper.uf2', sha(elf))).resolves.toEqual({
      found: false,
      missing: true,
    });
  });

  it('hands a store error to every job waiting on that read, and reads again for the next', async () => {
    const store = storeWith('klipper.elf', elf);
    store.failNext = true;
    const shared = new SharedArtifacts(store);
    const waiting = [1, 2].map(() => shared.read(VERSION, HASH, 'klipper.elf', sha(elf)));
    for (const read of waiting) await expect(read).rejects.toThrow(/EIO/);
    await expect(shared.read(VERSION, HASH, 'klipper.elf', sha(elf))).resolves.toMatchObject({ found: true });
    expect(store.reads).toBe(2);
  });

  it('keeps nothing once no job holds the bytes', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const shared = new SharedArtifacts(storeWith('klipper.elf', elf));
    const job = async (): Promise<WeakRef<Buffer>> => {
      const read = await shared.read(VERSION, HASH, 'klipper.elf', sha(elf));
      if (!read.found) throw new Error('not found');
      return new WeakRef(read.data);
    };
    const bytes = await job();
    // the job's reference has ended; a WeakRef is cleared only after the turn that last read it
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(bytes.deref()).toBeUndefined();
  });
});
