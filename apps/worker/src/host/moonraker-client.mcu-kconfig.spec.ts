import type { HostProbe, ProbeAnswer } from './host-probe';
import { MoonrakerClient } from './moonraker-client';

const MINIMAL = 'CONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F446=y\n';

/** A client whose probe answers every Moonraker request with `json` (exit `code`). */
function clientAnswering(json: Record<string, unknown> | null, code = 0) {
  const asked: string[][] = [];
  const probe = {
    ask: async (args: string[]): Promise<ProbeAnswer> => {
      asked.push(args);
      return {
        code,
        json,
        result: { code, stdout: JSON.stringify(json), stderr: '', durationMs: 0, timedOut: false },
      };
    },
  };
  return {
    client: new MoonrakerClient(
      probe as unknown as HostProbe,
      '/home/pi/printer_data/database/moonraker-sql.db',
    ),
    asked,
  };
}

const objects = (webhooks: string, status: Record<string, unknown>) => ({
  status: 200,
  body: { result: { status: { webhooks: { state: webhooks }, ...status } } },
});

describe('MoonrakerClient.mcuKconfigs', () => {
  it("asks for the webhooks and every MCU's object in one query", async () => {
    const { client, asked } = clientAnswering(objects('ready', {}));

    await client.mcuKconfigs(['mcu', 'ebb36']);

    expect(asked).toEqual([
      ['moonraker', 'GET', '/printer/objects/query?webhooks&mcu&mcu%20ebb36', '--port', '7125'],
    ]);
  });

  it.each<[string, unknown, string | null]>([
    ['as text', MINIMAL, MINIMAL],
    ['as an object holding it as defconfig', { defconfig: MINIMAL }, MINIMAL],
    ['as null (firmware before Klipper PR #7357)', null, null],
    ['as something else', 42, null],
    ['as an object without defconfig', { text: MINIMAL }, null],
  ])('reads mcu_kconfig given %s', async (_form, value, expected) => {
    const { client } = clientAnswering(objects('ready', { 'mcu ebb36': { mcu_kconfig: value } }));

    await expect(client.mcuKconfigs(['ebb36'])).resolves.toMatchObject({
      ready: true,
      kconfigs: { ebb36: expected },
    });
  });

  it("reads each MCU's mcu_constants, and none for an object without them", async () => {
    const { client } = clientAnswering(
      objects('ready', {
        mcu: { mcu_constants: { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000 } },
        'mcu ebb36': { mcu_constants: 'not an object' },
      }),
    );

    await expect(client.mcuKconfigs(['mcu', 'ebb36', 'rpi'])).resolves.toMatchObject({
      constants: { mcu: { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000 }, ebb36: {}, rpi: {} },
    });
  });

  it('reports an MCU object without mcu_kconfig as none', async () => {
    const { client } = clientAnswering(objects('ready', { mcu: { mcu_version: 'v0.13.0-0-g1' } }));

    await expect(client.mcuKconfigs(['mcu'])).resolves.toMatchObject({
      ready: true,
      kconfigs: { mcu: null },
    });
  });

  it('still gives what a Klippy that is not ready reports, as not ready', async () => {
    const { client } = clientAnswering(objects('shutdown', { mcu: { mcu_kconfig: MINIMAL } }));

    await expect(client.mcuKconfigs(['mcu', 'ebb36'])).resolves.toMatchObject({
      ready: false,
      kconfigs: { mcu: MINIMAL, ebb36: null },
    });
  });

  it.each<[string, Record<string, unknown> | null, number]>([
    ['Moonraker answers 503 (Klippy not connected)', { status: 503, body: { error: { code: 503 } } }, 0],
    ['Moonraker does not answer', { error: 'Connection refused' }, 1],
    ['the probe prints nothing', null, 1],
  ])('is not ready when %s', async (_case, json, code) => {
    const { client } = clientAnswering(json, code);

    await expect(client.mcuKconfigs(['mcu'])).resolves.toMatchObject({
      ready: false,
      kconfigs: { mcu: null },
    });
  });
});
