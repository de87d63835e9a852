import {
  PRINTER_CFG,
  TOOLHEAD_CFG,
  VORON_PRINTER_CFG,
  VORON_TOOLHEAD_CFG,
} from '@lockstep/mcu/src/domain/fixtures/printer-cfg';
import { healthyPrinter, newRun, voronJob } from '../testing/printer-fixtures';
import { readConfig } from './read-config.step';

const INVENTORY_HINT =
  "make the printer's inventory and printer.cfg name the same MCUs at the same addresses";

function setup(printerCfg = VORON_PRINTER_CFG, toolheadCfg: string | null = VORON_TOOLHEAD_CFG) {
  const job = voronJob();
  const fake = healthyPrinter(job);
  fake.probe.files = {
    [PRINTER_CFG]: printerCfg,
    ...(toolheadCfg === null ? {} : { [TOOLHEAD_CFG]: toolheadCfg }),
  };
  return { fake, run: newRun(fake, job) };
}

describe('read-config', () => {
  it('reads printer.cfg with its includes through the probe and gives CAN nodes the node ids klippy gives them', async () => {
    const { fake, run } = setup();

    await readConfig(run);

    expect(fake.calls).toEqual([`probe config-files --entry ${PRINTER_CFG}`]);
    expect([...run.nodeIds]).toEqual([
      ['ebb36', 4],
      ['sb2209', 5],
    ]);
    expect(fake.events).toEqual([]);
  });

  it("numbers CAN nodes in klippy's order ([mcu] first, then file order), not the inventory's", async () => {
    // sb2209 now comes before the include that declares ebb36; the inventory still lists ebb36 first.
    const reordered = VORON_PRINTER_CFG.replace('[include toolhead.cfg]\n\n', '').replace(
      '[printer]',
      '[include toolhead.cfg]\n\n[printer]',
    );
    const { run } = setup(reordered);

    await readConfig(run);

    expect(run.mcus.map((m) => m.name)).toEqual(['ebb36', 'mcu', 'probe', 'host', 'sb2209']);
    expect([...run.nodeIds]).toEqual([
      ['sb2209', 4],
      ['ebb36', 5],
    ]);
  });

  it.each([
    [
      'an MCU of the inventory missing',
      VORON_PRINTER_CFG.replace(
        '[mcu probe]\nserial: /dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00\n',
        '',
      ),
      '[mcu probe] is in the inventory but not in printer.cfg',
    ],
    [
      'an MCU the inventory does not know',
      `${VORON_PRINTER_CFG}\n[mcu extra]\nserial: /dev/serial/by-id/usb-Klipper_stm32f103xe_EXTRA-if00\n`,
      `printer.cfg declares [mcu extra] (${PRINTER_CFG}) that the inventory does not know`,
    ],
    [
      'a CAN node at another UUID',
      VORON_PRINTER_CFG.replace('canbus_uuid: 0123456789ab', 'canbus_uuid: 0123456789ac'),
      '[mcu sb2209] printer.cfg has canbus_uuid 0123456789ac, the inventory 0123456789ab',
    ],
    [
      'a board at another serial path',
      VORON_PRINTER_CFG.replace('E6625C05E7995B29', 'E6625C05E7995B30'),
      '[mcu probe] printer.cfg has serial /dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B30-if00, the inventory /dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00',
    ],
  ])('refuses %s (failed-preflight)', async (_what, printerCfg, message) => {
    const { fake, run } = setup(printerCfg);

    await expect(readConfig(run)).rejects.toMatchObject({
      step: 'read-config',
      message,
      details: { outcome: 'failed-preflight', hint: INVENTORY_HINT },
    });
    expect(fake.events).toEqual([]);
  });

  it('refuses a printer.cfg the probe cannot read, or whose include is missing (failed-preflight)', async () => {
    const unreadable = setup();
    unreadable.fake.probe.files = null;
    await expect(readConfig(unreadable.run)).rejects.toMatchObject({
      step: 'read-config',
      message: `cannot read ~/printer_data/config/printer.cfg: probe config-files exited with 1: cannot read ${PRINTER_CFG}: Permission denied`,
      details: {
        outcome: 'failed-preflight',
        hint: 'fix printer.cfg (Klipper would refuse it too), then run the update again',
      },
    });

    const noInclude = setup(VORON_PRINTER_CFG, null);
    await expect(readConfig(noInclude.run)).rejects.toMatchObject({
      step: 'read-config',
      message: `cannot read ~/printer_data/config/printer.cfg: ${PRINTER_CFG}:11: include file '${TOOLHEAD_CFG}' does not exist`,
      details: { outcome: 'failed-preflight' },
    });
    expect(noInclude.run.nodeIds.size).toBe(0);
  });
});
