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
