import { existsSync, readFileSync } from 'node:fs';
import { Farm, HostShell } from '@lockstep/farm';
import { listLinks, listNamespaces, namespacePids } from '../network';

/** Alive and not a zombie waiting to be reaped by its parent. */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('printer farm lifecycle', () => {
  it('starts reachable hosts with their MCUs, and down removes every trace', async () => {
    const farm = await Farm.up({ printers: 2, profile: 'minimal' });
    const namespaces = farm.hosts.map((h) => h.record.namespace);
    const pids = await Promise.all(namespaces.map(namespacePids));
    try {
      const status = await farm.status();
      expect(status.hosts.map((h) => [h.name, h.sshReachable])).toEqual([
        ['printer-01', true],
        ['printer-02', true],
      ]);
      for (const host of status.hosts) {
        const snapshot = host.snapshot!;
        expect(snapshot.mcus.map((m) => [m.name, m.kind, m.mode])).toEqual([
          ['rpi', 'linux', 'app'],
          ['mcu', 'usb-stm32', 'app'],
        ]);
        expect(snapshot.mcus.every((m) => m.version === snapshot.hostVersion)).toBe(true);
        expect(snapshot.hostVersion).toMatch(/^v0\.12\.0-0-g[0-9a-f]{7,}$/);
      }
      expect(pids.every((list) => list.length >= 3)).toBe(true);
    } finally {
      await farm.down();
    }
    const remaining = await listNamespaces();
    expect(remaining.filter((ns) => namespaces.includes(ns))).toEqual([]);
    expect((await listLinks()).filter((l) => l.startsWith(`lsf${farm.record.index}`))).toEqual([]);
    expect(existsSync(farm.record.dir)).toBe(false);
    expect(pids.flat().filter(isRunning)).toEqual([]);
  });

  it('runs several farms one after another, each with its own hosts', async () => {
    for (const profile of ['minimal', 'can'] as const) {
      const farm = await Farm.up({ printers: 1, profile });
      try {
        const shell = await HostShell.connect(farm.hosts[0]!);
        try {
          expect((await shell.check('hostname')).trim()).toBe('printer-01');
        } finally {
          shell.dispose();
        }
      } finally {
        await farm.down();
      }
    }
  });

  it('sweeps a farm whose owning process died', async () => {
    const farm = await Farm.up({ printers: 1, profile: 'minimal' });
    const record = { ...farm.record, ownerPid: 999_999_999 };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${record.dir}/farm.json`, JSON.stringify(record));
    const { sweepStaleFarms } = await import('@lockstep/farm');
    expect(await sweepStaleFarms()).toContain(farm.id);
    expect(existsSync(record.dir)).toBe(false);
    expect(await listNamespaces()).not.toContain(farm.hosts[0]!.record.namespace);
  });
});

describe('SSH access', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'minimal' });
  });
  afterAll(() => farm.down());

  it('logs in with the farm key as the printer user, pins the host key and audits the command', async () => {
    const host = farm.hosts[0]!;
    const shell = await HostShell.connect(host);
    try {
      const out = await shell.check(
        'id -un; echo "$HOME"; cd ~/klipper && git describe --always --tags --long --dirty',
      );
      expect(out.split('\n').slice(0, 3)).toEqual([
        'pi',
        '/home/pi',
        expect.stringMatching(/^v0\.12\.0-0-g/),
      ]);
      const failing = await shell.exec('exit 7');
      expect(failing.code).toBe(7);
    } finally {
      shell.dispose();
    }
    const audit = host.audit();
    const command = audit.find((e) => e.event === 'command' && String(e.command).includes('git describe'));
    expect(command).toBeDefined();
    const exit = audit.find(
      (e) => e.event === 'command-exit' && e.session === audit.find((c) => c.command === 'exit 7')?.session,
    );
    expect(exit?.exitCode).toBe(7);
  });

  it('refuses a connection whose host key does not match the pinned one', async () => {
    await expect(HostShell.connect(farm.hosts[0]!, Buffer.from('not the key'))).rejects.toThrow();
  });
});
