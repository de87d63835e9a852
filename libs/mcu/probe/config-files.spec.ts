import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTempDir, runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

describe('lockstep_probe.py config-files', () => {
  let dir: ReturnType<typeof makeTempDir>;

  beforeEach(() => {
    dir = makeTempDir('lockstep-probe-config-');
  });

  afterEach(() => dir.remove());

  /** Writes files under the temp dir; returns their absolute paths by relative name. */
  function write(files: Record<string, string>): Record<string, string> {
    const paths: Record<string, string> = {};
    for (const [name, content] of Object.entries(files)) {
      const path = join(dir.path, name);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      paths[name] = path;
    }
    return paths;
  }

  it('collects printer.cfg and every file reached through includes', async () => {
    const files = {
      'config/printer.cfg': [
        '[include mainsail.cfg]',
        '[include macros/*.cfg] # every macro file',
        '[include optional/*.cfg]',
        '#[include disabled.cfg]',
        '[mcu]',
        'serial: /dev/serial/by-id/usb-Klipper_stm32f446xx_3A0029-if00 # [include not-a-header.cfg]',
        '',
      ].join('\n'),
      'config/mainsail.cfg': '[virtual_sdcard]\npath: ~/printer_data/gcodes\n',
      'config/macros/b_purge.cfg': '[gcode_macro PURGE]\ngcode: G1 X0\n',
      'config/macros/a_start.cfg': '[include ../shared/common.cfg]\n[gcode_macro START]\ngcode: G28\n',
      'config/shared/common.cfg': '[mcu toolhead]\ncanbus_uuid: 0a1b2c3d4e5f\n',
      'config/disabled.cfg': '[this should not be read]\n',
    };
    const paths = write(files);

    const run = await runProbe(['config-files', '--entry', paths['config/printer.cfg']!]);

    expect(run.code).toBe(0);
    const collected = run.json.files as Record<string, string>;
    // Klipper's order: depth first, glob matches sorted.
    expect(Object.keys(collected)).toEqual([
      paths['config/printer.cfg'],
      paths['config/mainsail.cfg'],
      paths['config/macros/a_start.cfg'],
      join(dir.path, 'config/shared/common.cfg'),
      paths['config/macros/b_purge.cfg'],
    ]);
    for (const [name, content] of Object.entries(files)) {
      if (name !== 'config/disabled.cfg') expect(collected[join(dir.path, name)]).toBe(content);
    }
  });

  it('fails naming a missing include that is not a wildcard', async () => {
    const paths = write({ 'printer.cfg': '[include hardware/toolhead.cfg]\n' });

    const run = await runProbe(['config-files', '--entry', paths['printer.cfg']!]);

    expect(run.code).toBe(1);
    expect(run.json.error).toBe(
      `Include file '${join(dir.path, 'hardware/toolhead.cfg')}' does not exist (included from ` +
        `${paths['printer.cfg']}): Klipper will not start with this config either`,
    );
  });

  it('refuses a recursive include like Klipper', async () => {
    const paths = write({ 'printer.cfg': '[include a.cfg]\n', 'a.cfg': '[include printer.cfg]\n' });

    const run = await runProbe(['config-files', '--entry', paths['printer.cfg']!]);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(/^Recursive include of config file .*printer\.cfg \(from .*a\.cfg\)/);
  });

  it('fails clearly when the entry does not exist', async () => {
    const missing = join(dir.path, 'printer_data/config/printer.cfg');

    const run = await runProbe(['config-files', '--entry', missing]);

    expect(run.code).toBe(1);
    expect(run.json.error).toBe(
      `Config file ${missing} does not exist: check the printer's config path ` +
        '(usually ~/printer_data/config/printer.cfg)',
    );
  });
});
