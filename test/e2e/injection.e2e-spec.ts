import { readFileSync } from 'node:fs';
import { Farm, type FarmHost } from '@lockstep/farm';
import { inventory, printerJob, UpdateQueue, WorkerProcess } from './harness';

/** I6: nothing from outside reaches a shell unquoted or unvalidated, and the SSH key never shows. */
describe('job input that would reach a shell', () => {
  let farm: Farm;
  let host: FarmHost;
  let queue: UpdateQueue;
  let worker: WorkerProcess;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'mixed' });
    host = farm.hosts[0]!;
    const prefix = `lockstep-e2e-injection-${process.pid}`;
    queue = new UpdateQueue(prefix);
    worker = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath });
    await worker.waitForLog(/worker started/);
  });
  afterAll(async () => {
    await worker?.kill();
    await queue?.close();
    await farm?.down();
  });

  const PWNED = '/tmp/lockstep-pwned';
  const evil = `$(touch ${PWNED})`;

  it.each([
    ['a ref with shell text', () => ({ target: { ref: `v0.13.0;touch ${PWNED}` } }), /target\.ref/],
    ['a ref that is an option', () => ({ target: { ref: '--upload-pack=touch' } }), /target\.ref/],
    [
      'a rollback version with shell text',
      () => ({ mode: 'rollback' as const, target: { version: `v0.12.0${evil}` } }),
      /target\.version/,
    ],
    [
      'a serial path with shell text',
      () => ({
        mcus: inventory(host).map((m) =>
          m.name === 'mcu' ? { ...m, serial: `/dev/ttyACM0;touch ${PWNED}` } : m,
        ),
      }),
      /mcus\.1\.serial/,
    ],
    [
      'a CAN uuid with shell text',
      () => ({
        mcus: inventory(host).map((m) =>
          m.name === 'ebb36' ? { ...m, canbusUuid: `00;touch ${PWNED}` } : m,
        ),
      }),
      /mcus\.3\.canbusUuid/,
    ],
    [
      'a Kconfig value with a command substitution',
      () => ({
        mcus: inventory(host).map((m) =>
          m.name === 'mcu'
            ? { ...m, kconfig: m.kconfig.replace('CONFIG_MCU="stm32f446xx"', `CONFIG_MCU="${evil}"`) }
            : m,
        ),
      }),
      /mcus\[1\]\.kconfig/,
    ],
    [
      'a host address that is an ssh option',
      () => ({
        host: { address: '-oProxyCommand=touch', port: 22, user: 'pi', hostKey: 'ssh-ed25519 AAAA' },
      }),
      /host\.address/,
    ],
  ])(
    'refuses %s with an error naming the field, before running anything',
    async (_name, overrides, field) => {
      const before = host.commands().length;
      // Enqueued without the producer's check, to prove the worker refuses it on its own.
      await expect(queue.run(printerJob(host, overrides()), { validate: false })).rejects.toThrow(field);
      expect(host.commands().slice(before)).toEqual([]);
    },
  );

  it('quotes what it passes on, and never shows the SSH private key', async () => {
    const result = await queue.run(printerJob(host, { mode: 'dry-run' }));
    expect(result.outcome).toBe('planned');
    const commands = host.commands();
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.join('\n')).not.toContain('pwned');
    const shell = await import('@lockstep/farm').then((m) => m.HostShell.connect(host));
    try {
      expect((await shell.exec(`test -e ${PWNED}`)).code).toBe(1);
    } finally {
      shell.dispose();
    }
    const keyBody = readFileSync(host.privateKeyPath, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('-----'))
      .join('');
    for (const chunk of keyBody.match(/.{1,24}/g) ?? []) {
      expect(worker.output()).not.toContain(chunk);
      expect(JSON.stringify(result)).not.toContain(chunk);
    }
  });
});
