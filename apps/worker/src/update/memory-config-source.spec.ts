import { mcuSections, parsePrinterConfig } from '@lockstep/mcu';
import { memoryConfigSource } from './memory-config-source';

describe('memoryConfigSource', () => {
  it('lets the parser follow includes and globs among the files the probe collected', () => {
    const files = {
      '/home/pi/printer_data/config/printer.cfg':
        '[include toolhead.cfg]\n[include boards/*.cfg]\n[mcu]\nserial: /dev/ttyACM0\n',
      '/home/pi/printer_data/config/toolhead.cfg': '[mcu ebb36]\ncanbus_uuid: 0a1b2c3d4e5f\n',
      '/home/pi/printer_data/config/boards/probe.cfg': '[mcu probe]\nserial: /dev/ttyACM1\n',
    };
    const mcus = mcuSections(
      parsePrinterConfig('/home/pi/printer_data/config/printer.cfg', memoryConfigSource(files)),
    );
    expect(mcus.map((m) => m.name)).toEqual(['ebb36', 'probe', 'mcu']);
  });

  it('reports an include that was not collected', () => {
    const files = { '/c/printer.cfg': '[include missing.cfg]\n' };
    expect(() => parsePrinterConfig('/c/printer.cfg', memoryConfigSource(files))).toThrow(/missing\.cfg/);
  });
});
