import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as viaPackage from '@lockstep/mcu/probe/bundle';
import type * as Bundle from './bundle';
import { PROBE_FILE_NAME, type ProbeBundle, probeBundle } from './bundle';
import { PYTHON, runProbe, runPython, shippedProbe } from './testing/probe-process';

jest.setTimeout(20_000);

const PACKAGE_DIR = join(__dirname, 'lockstep_probe');
const ROOT = join(__dirname, '..', '..', '..');

/** Each entry of a zip as python's zipfile reads it: name, DOS date_time, content. */
const LIST_ZIP = `
import json, sys, zipfile
with zipfile.ZipFile(sys.stdin.read()) as archive:
    print(json.dumps([
        {"name": i.filename, "date_time": list(i.date_time), "content": archive.read(i).decode("utf-8")}
        for i in archive.infolist()
    ]))
`;

interface ZipEntry {
  name: string;
  date_time: number[];
  content: string;
}

describe('the probe bundle (lockstep_probe.pyz)', () => {
  it('has the same bytes every time it is built from the same sources', () => {
    const first = freshBuild();
    const second = freshBuild();

    expect(second).not.toBe(first); // two builds, not one cached
    expect(second.sha256).toBe(first.sha256);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    expect(first.sha256).toBe(createHash('sha256').update(first.bytes).digest('hex'));
    expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is built once, then cached', () => {
    expect(probeBundle()).toBe(probeBundle());
  });

  it('holds every module of the package, sorted, with fixed timestamps, and the zipapp entry point', async () => {
    const modules = readdirSync(PACKAGE_DIR).filter((name) => name.endsWith('.py'));
    expect(modules).toEqual(
      expect.arrayContaining(['__init__.py', '__main__.py', 'cli.py', 'journal.py', 'wire.py']),
    );

    const entries = JSON.parse(await runPython(LIST_ZIP, shippedProbe())) as ZipEntry[];

    const expected = ['__main__.py', ...modules.map((name) => `lockstep_probe/${name}`)].sort();
    expect(entries.map((entry) => entry.name)).toEqual(expected);
    for (const entry of entries) {
      const source = join(PACKAGE_DIR, entry.name.replace(/^lockstep_probe\//, ''));
      expect(entry.content).toBe(readFileSync(source, 'utf8'));
      expect(entry.date_time).toEqual([1980, 1, 1, 0, 0, 0]);
    }
  });

  it.each([
    [[], 'the following arguments are required: COMMAND'],
    [['flash'], "invalid choice: 'flash'"],
    [['query-can', '--no-such-option'], 'unrecognized arguments: --no-such-option'],
    [['identify', '--serial', 'ttyACM0'], 'is not an absolute device path of plain characters'],
  ])('reports %j as a usage error: exit 2 and one JSON object', async (args, message) => {
    const run = await runProbe(args);

    expect(run.code).toBe(2);
    expect(run.json).toEqual({ error: expect.stringContaining(message) });
    expect(run.stdout.split('\n')).toHaveLength(2);
  });

  it('prints its usage for --help, every command included', () => {
    const run = spawnSync(PYTHON, [shippedProbe(), '--help'], { encoding: 'utf8' });

    expect(run.status).toBe(0);
    for (const command of ['identify', 'query-can', 'moonraker', 'config-files', 'journal-write']) {
      expect(run.stdout).toContain(command);
    }
  });

  it('is what the worker imports as @lockstep/mcu/probe/bundle, in jest and in node', () => {
    expect(viaPackage.probeBundle).toBe(probeBundle);
    expect(viaPackage.PROBE_FILE_NAME).toBe('lockstep_probe.pyz');
    expect(PROBE_FILE_NAME).toBe('lockstep_probe.pyz');

    const script = "process.stdout.write(require('@lockstep/mcu/probe/bundle').probeBundle().sha256)";
    const node = spawnSync(process.execPath, ['-r', './tools/register.js', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });

    expect(node.stderr).toBe('');
    expect(node.stdout).toBe(probeBundle().sha256);
  });
});

/** A build that does not share the module's cache: bundle.ts loaded again in a registry of its own. */
function freshBuild(): ProbeBundle {
  let bundle: ProbeBundle | undefined;
  jest.isolateModules(() => {
    bundle = jest.requireActual<typeof Bundle>('./bundle').probeBundle();
  });
  return bundle!;
}
