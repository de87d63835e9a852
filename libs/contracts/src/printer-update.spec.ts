import { parsePrinterUpdateJob, printerUpdateJobId } from './index';

const valid = {
  printerId: 'f1-printer-01',
  requestId: 'r1',
  mode: 'update',
  target: { ref: 'v0.13.0' },
  host: { address: '10.213.1.11', user: 'pi', hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB' },
  mcus: [
    {
      name: 'mcu',
      kind: 'usb-stm32',
      bootloader: 'katapult',
      serial: '/dev/serial/by-id/usb-Klipper_x-if00',
      kconfig: 'CONFIG_MCU="stm32f446xx"\n',
    },
  ],
};

describe('printer-update job schema', () => {
  it('accepts a valid job and fills the defaults', () => {
    const job = parsePrinterUpdateJob(valid);
    expect(job.host.port).toBe(22);
    expect(job.paths.klipper).toBe('~/klipper');
    expect(job.policy).toMatchObject({ onFailure: 'hold', maxFlashAttempts: 2, keepVersions: 3 });
    expect(job.deadlines.flashSeconds).toBe(300);
  });

  it.each([
    ['printerId', { printerId: 'a b' }, /printerId/],
    ['host.address', { host: { ...valid.host, address: '-oProxyCommand=x' } }, /host\.address/],
    ['host.hostKey', { host: { ...valid.host, hostKey: 'AAAA' } }, /host\.hostKey/],
    ['host.user', { host: { ...valid.host, user: 'root;id' } }, /host\.user/],
    ['mcus.0.serial', { mcus: [{ ...valid.mcus[0], serial: '/dev/x;id' }] }, /mcus\.0\.serial/],
    ['mcus.0.canbusUuid', { mcus: [{ ...valid.mcus[0], canbusUuid: 'XYZ' }] }, /mcus\.0\.canbusUuid/],
    ['an unknown field', { secretKey: 'x' }, /secretKey|Unrecognized/],
    [
      'paths.klipper',
      { paths: { klipper: '~/../etc', printerConfig: '~/p.cfg', flashtool: '~/f.py' } },
      /paths\.klipper/,
    ],
  ])('rejects a bad %s, naming the field', (_name, change, message) => {
    expect(() => parsePrinterUpdateJob({ ...valid, ...change })).toThrow(message);
  });

  it('builds one job id per printer and request', () => {
    expect(printerUpdateJobId('f1-printer-01', 'r1')).toBe('printer-update.f1-printer-01.r1');
  });
});
