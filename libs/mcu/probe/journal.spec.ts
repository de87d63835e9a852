import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTempDir, runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

const JOB_A = 'printer-update:voron-1:42#6f1c2a9e-2b7e-4c65-9d0a-3f6c1e2b4a10';
const JOB_B = 'printer-update:voron-1:43#0d3b8c41-7a2f-4e1b-8c9d-5e4f3a2b1c00';

function journal(leaseToken: string, step = 'flash'): string {
  return JSON.stringify({ version: 1, leaseToken, step, mcus: { mcu: 'flashed' } }, null, 2);
}

describe('lockstep_probe.py journal-write', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let path: string;

  beforeEach(() => {
    dir = makeTempDir('lockstep-probe-journal-');
    path = join(dir.path, 'home', 'pi', '.lockstep', 'journal.json');
  });

  afterEach(() => dir.remove());

  function existing(content: string | Buffer): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }

  function write(content: string, expectToken: string, ...extra: string[]) {
    return runProbe(['journal-write', '--path', path, `--expect-token=${expectToken}`, ...extra], {
      input: content,
    });
  }

  /** What the directory holds besides the journal and its lock: must stay empty. */
  function strays(): string[] {
    return readdirSync(dirname(path)).filter(
      (name) => name !== 'journal.json' && name !== 'journal.json.lock',
    );
  }

  it('writes the first journal when none exists, creating its directory private', async () => {
    const content = journal(JOB_A);

    const run = await write(content, '');

    expect(run.code).toBe(0);
    expect(run.json).toEqual({ written: true });
    expect(readFileSync(path, 'utf8')).toBe(content);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    expect(strays()).toEqual([]);
  });

  it.each([
    ['its own token', journal(JOB_A), JOB_A],
    ['no token field, expecting none', JSON.stringify({ version: 1, step: 'backup' }), ''],
    ['a token that is not a string, expecting none', JSON.stringify({ leaseToken: 7 }), ''],
  ])('replaces a journal that holds %s', async (_what, before, expectToken) => {
    existing(before);
    const content = journal(JOB_A, 'verify');

    const run = await write(content, expectToken);

    expect(run.code).toBe(0);
    expect(run.json).toEqual({ written: true });
    expect(readFileSync(path, 'utf8')).toBe(content);
    expect(strays()).toEqual([]);
  });

  it.each([
    ["another job's token", journal(JOB_B), JOB_A, JOB_B],
    ["another job's token, expecting none", journal(JOB_B), '', JOB_B],
    ['nothing, expecting a token (someone removed it)', null, JOB_A, ''],
  ])(
    'is fenced off by a journal that holds %s and leaves it as it was',
    async (_what, before, expectToken, holder) => {
      if (before !== null) existing(before);

      const run = await write(journal(JOB_A, 'verify'), expectToken);

      expect(run.code).toBe(3);
      expect(run.json).toEqual({
        error: `journal is owned by another job (${holder})`,
        fenced: true,
        holder,
      });
      if (before === null) expect(existsSync(path)).toBe(false);
      else expect(readFileSync(path, 'utf8')).toBe(before);
      expect(strays()).toEqual([]);
    },
  );

  it.each([
    ['empty', '', 'is empty'],
    ['half written', '{\n  "version": 1,\n  "leaseToken": "printer-upd', 'is not JSON'],
    ['a JSON array', '[]', 'holds a JSON array, not an object'],
    ['not UTF-8', Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), 'is not JSON'],
  ])('refuses to overwrite a journal that is %s', async (_what, before, reason) => {
    existing(before);
    const raw = readFileSync(path);

    const run = await write(journal(JOB_A), JOB_A);

    expect(run.code).toBe(1);
    expect(run.json).toEqual({
      error: expect.stringContaining(`journal unreadable: ${path} ${reason}`),
      unreadable: true,
    });
    expect(readFileSync(path)).toEqual(raw);
    expect(strays()).toEqual([]);
  });

  it('removes the temp file of a writer that was killed before its rename', async () => {
    existing(journal(JOB_A));
    writeFileSync(join(dirname(path), 'journal.json.tmp-k1ll3d_x'), '{"leaseToken": "');

    const run = await write(journal(JOB_A, 'verify'), JOB_A);

    expect(run.code).toBe(0);
    expect(strays()).toEqual([]);
  });

  it.each([
    ['not JSON', '{step: flash}', 'stdin is not JSON'],
    ['empty', '', 'stdin is empty'],
    ['not an object', '"flash"', 'stdin is a JSON string, not an object'],
    ['without a leaseToken', JSON.stringify({ step: 'flash' }), 'has no leaseToken field'],
    [
      'with a leaseToken that is not a string',
      JSON.stringify({ leaseToken: null }),
      'leaseToken is a JSON null',
    ],
  ])('treats new content that is %s as a usage error and writes nothing', async (_what, content, message) => {
    const run = await write(content, '');

    expect(run.code).toBe(2);
    expect(run.json.error).toContain(message);
    expect(existsSync(dirname(path))).toBe(false);
  });

  it.each([
    [['journal-write', '--path', 'journal.json', '--expect-token', ''], 'is not an absolute file path'],
    [
      ['journal-write', '--path', '/home/pi/.lockstep/', '--expect-token', ''],
      'is not an absolute file path',
    ],
    [['journal-write', '--path', '/home/pi/.lockstep/journal.json'], '--expect-token'],
    [['journal-write', '--expect-token', ''], '--path'],
    [
      ['journal-write', '--path', '/tmp/j.json', '--expect-token', '', '--lock-timeout', 'x'],
      "'x' is not a number",
    ],
  ])('treats %j as a usage error', async (args, message) => {
    const run = await runProbe(args, { input: journal(JOB_A) });

    expect(run.code).toBe(2);
    expect(run.json.error).toContain(message);
  });

  describe('while another writer holds the lock', () => {
    let holder: ReturnType<typeof spawn> | undefined;

    /** Another process holding PATH.lock the way the probe takes it, until release(). */
    async function holdLock(): Promise<{ release: () => Promise<void> }> {
      mkdirSync(dirname(path), { recursive: true });
      const script =
        'import fcntl, os, sys\n' +
        'fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n' +
        'fcntl.flock(fd, fcntl.LOCK_EX)\n' +
        'print("locked", flush=True)\n' +
        'sys.stdin.read()\n';
      const child = spawn('/usr/bin/python3', ['-c', script, `${path}.lock`], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      holder = child;
      await once(child.stdout!, 'data');
      return {
        release: async () => {
          const exited = once(child, 'exit');
          child.stdin!.end();
          await exited;
        },
      };
    }

    afterEach(async () => {
      if (holder && holder.exitCode === null && holder.signalCode === null) {
        const exited = once(holder, 'exit');
        holder.kill('SIGKILL');
        await exited;
      }
      holder = undefined;
    });

    it('waits for it, then fails within its bound and writes nothing', async () => {
      existing(journal(JOB_A));
      await holdLock();

      const run = await write(journal(JOB_A, 'verify'), JOB_A, '--lock-timeout', '0.5');

      expect(run.code).toBe(1);
      expect(run.json.error).toMatch(
        new RegExp(`^The journal ${path} is locked by another writer \\(${path}\\.lock, waited 0\\.5 s\\)`),
      );
      expect(run.elapsedMs).toBeGreaterThanOrEqual(500);
      expect(run.elapsedMs).toBeLessThan(5000);
      expect(readFileSync(path, 'utf8')).toBe(journal(JOB_A));
      expect(strays()).toEqual([]);
    });

    it('writes once the other writer lets go within the bound', async () => {
      existing(journal(JOB_A));
      const lock = await holdLock();

      const writing = write(journal(JOB_A, 'verify'), JOB_A, '--lock-timeout', '5');
      await new Promise((resolve) => setTimeout(resolve, 300));
      await lock.release();
      const run = await writing;

      expect(run.code).toBe(0);
      expect(run.elapsedMs).toBeGreaterThanOrEqual(300);
      expect(readFileSync(path, 'utf8')).toBe(journal(JOB_A, 'verify'));
    });
  });
});
