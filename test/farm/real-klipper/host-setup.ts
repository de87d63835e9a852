import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../command';
import { klipperDir, printerDataDir } from '../hostd/home';
import { HOST_PATHS, type SimHostSpec } from '../spec';

/**
 * printer.cfg for real klippy with nothing but the Linux-process MCU: no kinematics to home, so
 * it goes `ready` with no hardware; virtual_sdcard gives the print_stats an updater reads.
 */
export function realPrinterConfig(spec: SimHostSpec): string {
  return [
    `# ${spec.name}: real Klipper in the Lockstep printer-farm simulator`,
    '[mcu]',
    `serial: ${HOST_PATHS.linuxMcuSerial}`,
    '',
    '[printer]',
    'kinematics: none',
    'max_velocity: 1',
    'max_accel: 1',
    '',
    '[virtual_sdcard]',
    'path: ~/printer_data/gcodes',
    '',
    '[pause_resume]',
    '',
    '[display_status]',
    '',
  ].join('\n');
}

/**
 * Sets the printer up the way Klipper's docs do for a Raspberry Pi's host MCU: `make menuconfig`
 * (here the board's Kconfig saved as ~/klipper/.config, then olddefconfig), `make`, and
 * flash-linux.sh's install of out/klipper.elf as /usr/local/bin/klipper_mcu. The `.config` and
 * `out/` it leaves are ignored files, as on every such host (klippy's git status parsing needs one).
 */
export async function installRealLinuxMcu(spec: SimHostSpec): Promise<void> {
  const board = spec.boards.find((b) => b.kind === 'linux');
  if (!board) throw new Error(`${spec.name}: profile real-linux needs a Linux-process MCU`);
  writeFileSync(join(printerDataDir(spec), 'config', 'printer.cfg'), realPrinterConfig(spec));
  const klipper = klipperDir(spec);
  writeFileSync(join(klipper, '.config'), board.kconfig);
  const home = join('/home', spec.user.name);
  const asUser = {
    cwd: klipper,
    uid: spec.user.uid,
    gid: spec.user.gid,
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, USER: spec.user.name },
    timeoutMs: 300_000,
  };
  await run('chown', [
    `${spec.user.uid}:${spec.user.gid}`,
    join(klipper, '.config'),
    join(printerDataDir(spec), 'config', 'printer.cfg'),
  ]);
  await run('make', ['olddefconfig'], asUser);
  await run('make', [], asUser);
  copyFileSync(join(klipper, 'out', 'klipper.elf'), HOST_PATHS.linuxMcuBinary);
  chmodSync(HOST_PATHS.linuxMcuBinary, 0o755);
}
