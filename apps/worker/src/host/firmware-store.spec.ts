import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirmwareStore } from './firmware-store';
import type { PrinterHost } from './printer-host';

const SHA = 'a'.repeat(64);
const HASH = 'b'.repeat(64);
const COMMIT = 'c'.repeat(40);

function manifest(version: string, createdAt: string): string {
  return JSON.stringify({
    version,
    commit: COMMIT,
    createdAt,
    builds: { [HASH]: { files: { 'klipper.bin': SHA } } },
  });
}

/** A printer host that answers the store's listing with `listing` and records every command. */
function hostListing(listing: string): { host: PrinterHost; commands: string[] } {
  const commands: string[] = [];
  const host = {
    lockstepDir: '/home/pi/.lockstep',
    check: async (_step: string, _what: string, command: string) => {
      commands.push(command);
      return command.startsWith('cd ') ? listing : '';
    },
  } as unknown as PrinterHost;
  return { host, commands };
}

describe('FirmwareStore: what it reads back from the host is checked before it names a path', () => {
  const mark = '@@LOCKSTEP-DIR@@';

  it('prunes only folders whose name is a version and whose manifest says so, oldest first', async () => {
    const listing = [
      `${mark}v0.13.0-0-g1b6ba2e\n${manifest('v0.13.0-0-g1b6ba2e', '2026-11-03T00:00:00.000Z')}`,
      `${mark}v0.12.0-0-g3ca7704\n${manifest('v0.12.0-0-g3ca7704', '2026-11-02T00:00:00.000Z')}`,
      `${mark}v0.11.0-0-g0000000\n${manifest('v0.11.0-0-g0000000', '2026-11-01T00:00:00.000Z')}`,
      // A manifest that names another folder (`..` would be ~/.lockstep itself), a folder that is an option.
      `${mark}v0.10.0-0-g0000000\n${manifest('..', '2026-10-01T00:00:00.000Z')}`,
      `${mark}-rf\n${manifest('-rf', '2026-10-01T00:00:00.000Z')}`,
      `${mark}v0.9.0\nnot json`,
    ].join('\n');
    const { host, commands } = hostListing(listing);
    const removed = await new FirmwareStore(host).prune('done', 1, ['v0.12.0-0-g3ca7704']);
    expect(removed).toEqual(['v0.11.0-0-g0000000']);
    expect(commands.at(-1)).toBe('rm -rf -- /home/pi/.lockstep/firmware/v0.11.0-0-g0000000');
  });

  it.each(['..', '-rf', 'v1/../..', '$(id)', ''])('refuses to name a folder for version %j', (version) => {
    const { host } = hostListing('');
    expect(() => new FirmwareStore(host).dir(version)).toThrow(/firmware version/);
  });

  it('refuses a Kconfig hash that is not a SHA-256', () => {
    const { host } = hostListing('');
    expect(() => new FirmwareStore(host).dir('v0.13.0', '../x')).toThrow(/kconfigHash/);
  });
});

/** A printer host that records what the store asks of it, in order; the manifest starts absent. */
function recordingHost(): {
  host: PrinterHost;
  calls: string[];
  stdin: string[];
  written: Map<string, string>;
} {
  const calls: string[] = [];
  const stdin: string[] = [];
  const written = new Map<string, string>();
  const host = {
    lockstepDir: '/home/pi/.lockstep',
    check: async (_step: string, _what: string, command: string, options?: { stdin?: string }) => {
      calls.push(`check ${command}`);
      if (options?.stdin) stdin.push(options.stdin);
      return '';
    },
    uploadFile: async (_step: string, path: string) => {
      calls.push(`upload ${path}`);
    },
    readFile: async (_step: string, path: string) => {
      calls.push(`read ${path}`);
      return written.get(path) ?? null;
    },
    writeFile: async (_step: string, path: string, content: string) => {
      calls.push(`write ${path}`);
      written.set(path, content);
    },
  } as unknown as PrinterHost;
  return { host, calls, stdin, written };
}

describe('FirmwareStore.install: builds made elsewhere put in the store', () => {
  const version = 'v0.13.0-0-g1b6ba2e';
  const root = `/home/pi/.lockstep/firmware/${version}`;
  const h1 = '1'.repeat(64);
  const h2 = '2'.repeat(64);
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

  it('uploads every build of a version, checks them all on the host in one command, then moves them and writes the manifest once', async () => {
    const { host, calls, stdin, written } = recordingHost();
    const builds = new Map([
      [h1, new Map([['klipper.bin', Buffer.from('usb board')]])],
      [
        h2,
        new Map([
          ['klipper.elf', Buffer.from('linux mcu')],
          ['klipper.uf2', Buffer.from('rp2040')],
        ]),
      ],
    ]);
    await new FirmwareStore(host).install('build', version, COMMIT, builds, '2026-12-04T00:00:00.000Z');

    expect(calls).toEqual([
      `check rm -rf -- ${root}/.incoming-${h1} ${root}/.incoming-${h2} && mkdir -p -- ${root}/.incoming-${h1} ${root}/.incoming-${h2}`,
      `upload ${root}/.incoming-${h1}/klipper.bin`,
      `upload ${root}/.incoming-${h2}/klipper.elf`,
      `upload ${root}/.incoming-${h2}/klipper.uf2`,
      `check sha256sum --check --strict - && rm -rf ${root}/${h1} && mv ${root}/.incoming-${h1} ${root}/${h1} && rm -rf ${root}/${h2} && mv ${root}/.incoming-${h2} ${root}/${h2}`,
      `read ${root}/manifest.json`,
      `write ${root}/manifest.json`,
    ]);
    expect(stdin).toEqual([
      `${sha('usb board')}  ${root}/.incoming-${h1}/klipper.bin\n` +
        `${sha('linux mcu')}  ${root}/.incoming-${h2}/klipper.elf\n` +
        `${sha('rp2040')}  ${root}/.incoming-${h2}/klipper.uf2\n`,
    ]);
    const manifest = JSON.parse(written.get(`${root}/manifest.json`)!) as { builds: object; commit: string };
    expect(manifest.commit).toBe(COMMIT);
    expect(manifest.builds).toEqual({
      [h1]: { files: { 'klipper.bin': sha('usb board') } },
      [h2]: { files: { 'klipper.elf': sha('linux mcu'), 'klipper.uf2': sha('rp2040') } },
    });
  });

  it.each([
    ['a Kconfig hash that is not a SHA-256', '../x', 'klipper.bin', /kconfigHash/],
    ['a file that is not a firmware artifact', h1, '../../.bashrc', /not a firmware artifact/],
  ])('refuses %s before any command reaches the host', async (_what, hash, file, message) => {
    const { host, calls } = recordingHost();
    const builds = new Map([
      [h2, new Map([['klipper.bin', Buffer.from('fine')]])],
      [hash, new Map([[file, Buffer.from('x')]])],
    ]);
    await expect(
      new FirmwareStore(host).install('build', version, COMMIT, builds, '2026-12-04T00:00:00.000Z'),
    ).rejects.toThrow(message);
    expect(calls).toEqual([]);
  });
});

/** A printer host whose commands run in a local shell, its ~/.lockstep a temporary folder. */
function localHost(lockstepDir: string): { host: PrinterHost; commands: string[] } {
  const commands: string[] = [];
  const host = {
    lockstepDir,
    run: (command: string) =>
      new Promise((resolve) => {
        commands.push(command);
        execFile('sh', ['-c', command], (error, stdout, stderr) =>
          resolve({
            code: error ? (error.code as number) : 0,
            stdout,
            stderr,
            durationMs: 0,
            timedOut: false,
          }),
        );
      }),
  } as unknown as PrinterHost;
  return { host, commands };
}

describe('FirmwareStore.verified: the stored builds checked against their manifest in one command', () => {
  const version = 'v0.13.0-0-g1b6ba2e';
  const usb = '1'.repeat(64);
  const linux = '2'.repeat(64);
  const rp2040 = '3'.repeat(64);
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
  let lockstep: string;
  let root: string;

  /** Stores files under their builds and a manifest naming `sums` (default: the files' own). */
  function store(
    files: Record<string, Record<string, string>>,
    sums: Record<string, Record<string, string>> = {},
  ): void {
    const builds: Record<string, { files: Record<string, string> }> = {};
    for (const [hash, named] of Object.entries(files)) {
      mkdirSync(join(root, hash), { recursive: true });
      builds[hash] = { files: {} };
      for (const [file, content] of Object.entries(named)) {
        writeFileSync(join(root, hash, file), content);
        builds[hash].files[file] = sums[hash]?.[file] ?? sha(content);
      }
    }
    writeFileSync(
      join(root, 'manifest.json'),
      JSON.stringify({ version, commit: COMMIT, createdAt: '2026-12-04T00:00:00.000Z', builds }),
    );
  }

  beforeEach(() => {
    lockstep = mkdtempSync(join(tmpdir(), 'lockstep-store-'));
    root = join(lockstep, 'firmware', version);
    mkdirSync(root, { recursive: true });
  });
  afterEach(() => rmSync(lockstep, { recursive: true, force: true }));

  it('names the builds whose every file matches its SHA-256, in one command', async () => {
    store({
      [usb]: { 'klipper.bin': 'usb board' },
      [linux]: { 'klipper.elf': 'linux mcu', 'klipper.uf2': 'x' },
    });
    const { host, commands } = localHost(lockstep);
    expect(await new FirmwareStore(host).verified('flash', version, [usb, linux])).toEqual(
      new Set([usb, linux]),
    );
    expect(commands).toHaveLength(1);
  });

  it('leaves out a build with a changed file, a missing file, or none in its manifest, and one not asked for', async () => {
    store(
      { [usb]: { 'klipper.bin': 'usb board' }, [linux]: { 'klipper.elf': 'linux mcu', 'klipper.uf2': 'x' } },
      { [usb]: { 'klipper.bin': sha('another build') } },
    );
    rmSync(join(root, linux, 'klipper.uf2'));
    mkdirSync(join(root, rp2040));
    const { host } = localHost(lockstep);
    const store_ = new FirmwareStore(host);
    expect(await store_.verified('flash', version, [usb, linux, rp2040])).toEqual(new Set());
    store({ [usb]: { 'klipper.bin': 'usb board' }, [rp2040]: { 'klipper.uf2': 'rp2040' } });
    expect(await store_.verified('flash', version, [rp2040])).toEqual(new Set([rp2040]));
  });

  it.each([
    ['no manifest', () => rmSync(join(root, 'manifest.json'))],
    ['a manifest that is not JSON', () => writeFileSync(join(root, 'manifest.json'), '{"version":')],
    [
      'a manifest of another version',
      () => writeFileSync(join(root, 'manifest.json'), readManifest().replace(version, 'v0.12.0-0-g0000000')),
    ],
    [
      'sums forged after the manifest',
      () =>
        writeFileSync(
          join(root, 'manifest.json'),
          readManifest().replace(sha('usb board'), 'f'.repeat(64)) +
            `\n@@LOCKSTEP-SUMS@@\n${'f'.repeat(64)}  ${join(root, usb)}/klipper.bin\n`,
        ),
    ],
  ])('finds nothing stored with %s', async (_what, change) => {
    store({ [usb]: { 'klipper.bin': 'usb board' } });
    change();
    const { host } = localHost(lockstep);
    expect(await new FirmwareStore(host).verified('flash', version, [usb])).toEqual(new Set());
  });

  function readManifest(): string {
    return readFileSync(join(root, 'manifest.json'), 'utf8');
  }

  it('reports a command that fails on the host', async () => {
    const host = {
      lockstepDir: lockstep,
      run: async () => ({ code: 127, stdout: '', stderr: 'sh: cannot fork', durationMs: 0, timedOut: false }),
    } as unknown as PrinterHost;
    await expect(new FirmwareStore(host).verified('flash', version, [usb])).rejects.toThrow(
      /reading .*manifest\.json and its builds' SHA-256 exited with 127: sh: cannot fork/,
    );
  });
});
