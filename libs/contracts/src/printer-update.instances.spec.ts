import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { jobIssues, validJobInput } from './fixtures/printer-update-jobs';
import { parsePrinterUpdateJob, printerUpdateJobData } from './index';

const { mcus: _mcus, ...base } = validJobInput();
const inventory = (name: string) => voronInventory().find((m) => m.name === name)!;
const usb = (serial: string) => ({
  ...inventory('mcu'),
  serial: `/dev/serial/by-id/usb-Klipper_stm32f446xx_${serial}-if00`,
});
const instance = (n: number, mcus: unknown[], patch: Record<string, unknown> = {}) => ({
  printerId: `voron-${n}`,
  service: `klipper-${n}`,
  printerConfig: `~/printer_${n}_data/config/printer.cfg`,
  moonrakerPort: 7124 + n,
  mcus,
  ...patch,
});
const twoInstances = () => [
  instance(1, [inventory('host'), usb('AAAA'), inventory('ebb36')]),
  instance(2, [usb('BBBB'), inventory('probe')]),
];

describe('printer-update jobs for a host with several Klipper instances', () => {
  it('takes each instance with its own printer.cfg, unit, Moonraker port and MCUs', () => {
    const job = parsePrinterUpdateJob({ ...base, printerId: 'host-01', instances: twoInstances() });
    expect(job.instances.map((i) => [i.printerId, i.service, i.printerConfig, i.moonrakerPort])).toEqual([
      ['voron-1', 'klipper-1', '~/printer_1_data/config/printer.cfg', 7125],
      ['voron-2', 'klipper-2', '~/printer_2_data/config/printer.cfg', 7126],
    ]);
    expect(job.instances[1]!.mcus.map((m) => m.name)).toEqual(['mcu', 'probe']);
    expect(job).not.toHaveProperty('mcus');
    expect(job.paths).not.toHaveProperty('printerConfig');
    expect(parsePrinterUpdateJob(JSON.parse(JSON.stringify(printerUpdateJobData(job))))).toEqual(job);
  });

  it("reads a job that names MCUs as one instance in Klipper's default layout", () => {
    const job = parsePrinterUpdateJob(validJobInput());
    expect(job.instances).toHaveLength(1);
    expect(job.instances[0]).toMatchObject({
      printerId: 'f1-printer-01',
      service: 'klipper',
      printerConfig: '~/printer_data/config/printer.cfg',
      moonrakerPort: 7125,
    });
    const moved = parsePrinterUpdateJob({
      ...validJobInput(),
      paths: { printerConfig: '~/printer_1_data/config/printer.cfg' },
    });
    expect(moved.instances[0]!.printerConfig).toBe('~/printer_1_data/config/printer.cfg');
  });

  it.each<[string, Record<string, unknown>, string[]]>([
    [
      'neither MCUs nor instances',
      {},
      ["mcus: required: the printer's MCUs, or `instances` for a host with several Klipper instances"],
    ],
    [
      'both MCUs and instances',
      { mcus: voronInventory(), instances: twoInstances() },
      ['mcus: give the MCUs under each of `instances`, not beside them'],
    ],
    [
      'a printer.cfg beside instances',
      { instances: twoInstances(), paths: { printerConfig: '~/printer_data/config/printer.cfg' } },
      ['paths.printerConfig: give each instance its printerConfig instead'],
    ],
    [
      'a unit that is no Klipper service',
      { instances: [instance(1, [usb('AAAA')], { service: 'sshd' })] },
      ['instances.0.service: klipper or klipper-NAME (1-32 letters, digits or _)'],
    ],
    [
      'two instances with one printer id, unit, printer.cfg and port',
      { instances: [instance(1, [usb('AAAA')]), instance(1, [usb('BBBB')])] },
      [
        "instances.1.printerId: voron-1 is already instance 0's printer id: each instance has its own",
        "instances.1.service: klipper-1 is already instance 0's klipper unit: each instance has its own",
        "instances.1.printerConfig: ~/printer_1_data/config/printer.cfg is already instance 0's printer.cfg: each instance has its own",
        "instances.1.moonrakerPort: 7125 is already instance 0's Moonraker port: each instance has its own",
      ],
    ],
    [
      'one board in two instances',
      { instances: [instance(1, [usb('AAAA')]), instance(2, [usb('AAAA')])] },
      [
        'instances.1.mcus.0.serial: voron-2 [mcu] is /dev/serial/by-id/usb-Klipper_stm32f446xx_AAAA-if00, which is voron-1 [mcu] too: a board belongs to one instance',
      ],
    ],
    [
      'the Linux-process MCU in two instances',
      { instances: [instance(1, [inventory('host')]), instance(2, [inventory('host')])] },
      [
        'instances.1.mcus.0.kind: voron-2 [mcu host]: the host runs one Linux-process MCU (klipper-mcu.service), and voron-1 [mcu host] already uses it',
      ],
    ],
    [
      'CAN nodes of two instances on one bus',
      {
        instances: [
          instance(1, [usb('AAAA'), inventory('ebb36')]),
          instance(2, [usb('BBBB'), inventory('sb2209')]),
        ],
      },
      [
        "instances.1.mcus.1.canInterface: voron-2 [mcu sb2209] is on can0, where voron-1's CAN nodes are: each klippy numbers its CAN nodes from the same first id, so two instances on one bus give two boards one node id; give each instance its own CAN interface",
      ],
    ],
  ])('refuses %s, naming the field', (_what, change, expected) => {
    expect(jobIssues({ ...base, ...change })).toEqual(expected);
  });

  it("names a bad MCU by its instance's path", () => {
    const bad = instance(2, [{ ...usb('BBBB'), kind: 'avr' }]);
    expect(jobIssues({ ...base, instances: [instance(1, [usb('AAAA')]), bad] })[0]).toMatch(
      /^instances\.1\.mcus\.0\.kind: /,
    );
  });
});
