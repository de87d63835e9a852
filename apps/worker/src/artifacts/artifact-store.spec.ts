import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  ArtifactStoreError,
  DirectoryArtifactStore,
  HttpArtifactStore,
  openArtifactStore,
  type ArtifactStore,
} from './artifact-store';

const HASH = 'ab'.repeat(32);
const V = 'v0.13.0-730-g84104bbbd';

describe('openArtifactStore', () => {
  it('opens a directory, an HTTP store, or none', () => {
    expect(openArtifactStore('/var/lib/lockstep/artifacts', undefined)).toBeInstanceOf(
      DirectoryArtifactStore,
    );
    expect(openArtifactStore('https://api.farm/artifacts', 'secret')).toBeInstanceOf(HttpArtifactStore);
    expect(openArtifactStore(undefined, undefined)).toBeNull();
  });
});

/** The names every store refuses before they become a path or a URL. */
function refusesBadNames(store: () => ArtifactStore): void {
  it.each([
    ['a version with ..', '../etc', HASH, 'klipper.bin'],
    ['a hash that is not one', V, '../../x', 'klipper.bin'],
    ['a file that is not an artifact', V, HASH, '../passwd'],
  ])('refuses %s', async (_what, version, hash, file) => {
    await expect(store().read(version, hash, file)).rejects.toThrow();
    await expect(store().write(version, hash, file, Buffer.from('x'))).rejects.toThrow();
  });
}

describe('DirectoryArtifactStore', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'lockstep-artifacts-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes <version>/<hash>/<file> atomically and reads it back; a missing file is null', async () => {
    const store = new DirectoryArtifactStore(root);
    await store.write(V, HASH, 'klipper.bin', Buffer.from('firmware'));
    expect(readFileSync(join(root, V, HASH, 'klipper.bin'), 'utf8')).toBe('firmware');
    expect(readdirSync(join(root, V, HASH))).toEqual(['klipper.bin']);
    expect((await store.read(V, HASH, 'klipper.bin'))?.toString()).toBe('firmware');
    expect(await store.read(V, HASH, 'klipper.uf2')).toBeNull();
  });

  refusesBadNames(() => new DirectoryArtifactStore(root));
});

describe('HttpArtifactStore', () => {
  let server: Server;
  let base: string;
  const files = new Map<string, Buffer>();
  const seen: { method: string; url: string; authorization?: string }[] = [];

  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
      if (req.headers.authorization !== 'Bearer s3cret') {
        res.writeHead(401).end();
        return;
      }
      if (req.url!.includes('broken')) {
        res.writeHead(500).end();
        return;
      }
      if (req.method === 'PUT') {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          files.set(req.url!, Buffer.concat(chunks));
          res.writeHead(201).end();
        });
        return;
      }
      const data = files.get(req.url!);
      if (!data) res.writeHead(404).end();
      else res.writeHead(200).end(data);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/artifacts/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('PUTs and GETs <base>/<version>/<hash>/<file> with its bearer token', async () => {
    const store = new HttpArtifactStore(base, 's3cret');
    await store.write(V, HASH, 'klipper.bin', Buffer.from('firmware'));
    expect((await store.read(V, HASH, 'klipper.bin'))?.toString()).toBe('firmware');
    expect(await store.read(V, HASH, 'klipper.uf2')).toBeNull();
    expect(seen.slice(-3)).toEqual([
      { method: 'PUT', url: `/artifacts/${V}/${HASH}/klipper.bin`, authorization: 'Bearer s3cret' },
      { method: 'GET', url: `/artifacts/${V}/${HASH}/klipper.bin`, authorization: 'Bearer s3cret' },
      { method: 'GET', url: `/artifacts/${V}/${HASH}/klipper.uf2`, authorization: 'Bearer s3cret' },
    ]);
    expect(store.location).toBe(base.slice(0, -1));
  });

  it('says which request failed and how, never with the token', async () => {
    const denied = new HttpArtifactStore(base, 'wrong');
    const error = await denied.read(V, HASH, 'klipper.bin').catch((e: Error) => e);
    expect(error).toBeInstanceOf(ArtifactStoreError);
    expect((error as Error).message).toBe(`GET ${base}${V}/${HASH}/klipper.bin: HTTP 401`);
    expect((error as Error).message).not.toContain('wrong');
    await expect(
      new HttpArtifactStore(`${base}broken`, 's3cret').read(V, HASH, 'klipper.bin'),
    ).rejects.toThrow(/HTTP 500$/);
    await expect(
      new HttpArtifactStore('http://127.0.0.1:1', undefined).read(V, HASH, 'klipper.bin'),
    ).rejects.toThrow(ArtifactStoreError);
  });

  refusesBadNames(() => new HttpArtifactStore(base, 's3cret'));
});
