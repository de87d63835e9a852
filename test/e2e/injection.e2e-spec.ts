import { readFileSync } from 'node:fs';
import { inventory, printerJob, useWorkerFarm } from './harness';

/** I6: nothing from outside reaches a shell unquoted or unvalidated, and the SSH key never shows. */
describe('job input that would reach a shell', () => {
  const ctx = useWorkerFarm('injection');

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
        mcus: inventory(ctx.host).map((m) =>
          m.name === 'mcu' ? { ...m, serial: `/dev/ttyACM0;touch ${PWNED}` } : m,
        ),
      }),
      /mcus\.1\.serial/,
    ],
    [
      'a CAN uuid with shell text',
      () => ({
        mcus: inventory(ctx.host).map((m) =>
          m.name === 'ebb36' ? { ...m, canbusUuid: `00;touch ${PWNED}` } : m,
        ),
      }),
      /mcus\.3\.canbusUuid/,
    ],
    [
      'a Kconfig value with a command substitution',
      () => ({
        mcus: inventory(ctx.host).map((m) =>
          m.name === 'mcu'
            ? { ...m, kconfig: m.kconfig.replace('CONFIG_MCU="stm32f446xx"', `CONFIG_MCU="${evil}"`) }
            : m,
        ),
      }),
      /mcus\.1\.kconfig/,
    ],
    [
      'a serial path that climbs out of /dev',
      () => ({
        mcus: inventory(ctx.host).map((m) =>
          m.name === 'mcu' ? { ...m, serial: '/dev/serial/../../tmp/x' } : m,
        ),
      }),
      /mcus\.1\.serial/,
    ],
    [
      'a bridge name with shell text',
      () => ({
        mcus: inventory(ctx.host).map((m) => (m.name === 'ebb36' ? { ...m, bridge: `x;touch ${PWNED}` } : m)),
      }),
      /mcus\.3\.bridge/,
    ],
    [
      'a CAN interface that is an option',
      () => ({
        mcus: inventory(ctx.host).map((m) => (m.name === 'ebb36' ? { ...m, canInterface: '-h' } : m)),
      }),
      /mcus\.3\.canInterface/,
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
      const before = ctx.host.commands().length;
      // Enqueued without the producer's check, to prove the worker refuses it on its own.
      await expect(ctx.queue.run(printerJob(ctx.host, overrides()), { validate: false })).rejects.toThrow(
        field,
      );
      expect(ctx.host.commands().slice(before)).toEqual([]);
    },
  );

  it('runs an update end to end with odd but valid values, which reach the host only quoted or on stdin', async () => {
    // A comment line kconfiglib would never write, but that a Kconfig may hold; it goes to make on stdin.
    const odd = `# built by "ops"; $(touch ${PWNED}) \`id\` | rm -rf ~`;
    const mcus = inventory(ctx.host).map((m) =>
      m.name === 'mcu' ? { ...m, kconfig: `${odd}\n${m.kconfig}` } : m,
    );
    const before = ctx.host.commands().length;
    const result = await ctx.queue.run(printerJob(ctx.host, { requestId: `r.odd_1-${Date.now()}`, mcus }));
    expect(result.outcome).toBe('updated');
    const commands = ctx.host.commands().slice(before);
    expect(commands.length).toBeGreaterThan(50);
    // The Kconfig text went in on stdin, never on a command line; the host never ran it.
    expect(commands.filter((c) => c.includes('pwned') || c.includes('built by'))).toEqual([]);
    const shell = await import('@lockstep/farm').then((m) => m.HostShell.connect(ctx.host));
    try {
      expect((await shell.exec(`test -e ${PWNED}`)).code).toBe(1);
    } finally {
      shell.dispose();
    }
  });

  it('quotes what it passes on, and never shows the SSH private key', async () => {
    const before = ctx.host.commands().length;
    const result = await ctx.queue.run(printerJob(ctx.host, { mode: 'dry-run' }));
    expect(result.outcome).toBe('planned');
    const commands = ctx.host.commands().slice(before);
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.join('\n')).not.toContain('pwned');
    const shell = await import('@lockstep/farm').then((m) => m.HostShell.connect(ctx.host));
    try {
      expect((await shell.exec(`test -e ${PWNED}`)).code).toBe(1);
    } finally {
      shell.dispose();
    }
    const keyBody = readFileSync(ctx.host.privateKeyPath, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('-----'))
      .join('');
    for (const chunk of keyBody.match(/.{1,24}/g) ?? []) {
      expect(ctx.worker.output()).not.toContain(chunk);
      expect(JSON.stringify(result)).not.toContain(chunk);
    }
  });

  it('warns at start that its Redis (the machine’s, without a password) lets anyone queue jobs', () => {
    expect(ctx.worker.output()).toMatch(
      /Redis at 127\.0\.0\.1:6379 accepts clients without a password: anyone who can reach it can queue jobs that stop Klipper and flash printers/,
    );
  });
});
