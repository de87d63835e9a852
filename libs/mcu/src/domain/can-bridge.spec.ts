import { bridgeBusCheck, bridgeKatapultDevice, canbusUuidOfUsbSerial, parseCanLink } from './can-bridge';

describe('canbusUuidOfUsbSerial: the UUID Klipper derives from the chip id in the USB serial', () => {
  // Reference values from Katapult's flashtool.py convert_usbsn_to_uuid.
  it.each([
    ['0123456789ABCDEF01234567', '38c9bdae9652'],
    ['4E0032000F51313338363231', 'cb73bf1736f8'],
    ['4e0032000f51313338363231', 'cb73bf1736f8'],
    // Not a multiple of 8 bytes: the tail is hashed too.
    ['AABBCCDDEEFF00112233', '540ec9c79541'],
  ])('%s -> %s', (serial, uuid) => expect(canbusUuidOfUsbSerial(serial)).toBe(uuid));

  it.each(['', 'ABC', 'XYZ0', '12 34'])('%j is no chip id', (serial) =>
    expect(canbusUuidOfUsbSerial(serial)).toBeNull(),
  );
});

describe('bridgeKatapultDevice: the bridge among the Katapult ttys', () => {
  const names = [
    'usb-Klipper_rp2040_E6625C05E7-if00',
    'usb-katapult_stm32f446xx_0123456789ABCDEF01234567-if00',
    'usb-CanBoot_stm32f446xx_4E0032000F51313338363231-if00',
  ];
  it.each([
    ['38c9bdae9652', '/dev/serial/by-id/usb-katapult_stm32f446xx_0123456789ABCDEF01234567-if00'],
    ['CB73BF1736F8', '/dev/serial/by-id/usb-CanBoot_stm32f446xx_4E0032000F51313338363231-if00'],
    ['112233445566', null],
  ])('%s -> %s', (uuid, device) => expect(bridgeKatapultDevice(uuid, names)).toBe(device));

  it('does not take a board running Klipper for one in Katapult', () =>
    expect(
      bridgeKatapultDevice('38c9bdae9652', ['usb-Klipper_stm32f446xx_0123456789ABCDEF01234567-if00']),
    ).toBeNull());
});

describe('parseCanLink and bridgeBusCheck', () => {
  const UP =
    '3: can0: <NOARP,UP,LOWER_UP,ECHO> mtu 16 qdisc pfifo_fast state UP mode DEFAULT group default qlen 128\n' +
    '    link/can  promiscuity 0 minmtu 0 maxmtu 0 \n' +
    '    can state ERROR-ACTIVE (berr-counter tx 0 rx 0) restart-ms 0 \n' +
    '\t  bitrate 1000000 sample-point 0.875\n';
  const DOWN =
    '3: can0: <NOARP,ECHO> mtu 16 qdisc noop state DOWN mode DEFAULT group default qlen 10\n' +
    '    link/can  promiscuity 0 minmtu 0 maxmtu 0 \n    can state STOPPED restart-ms 0 \n';
  const FD = UP.replace(
    'bitrate 1000000 sample-point 0.875',
    'bitrate 500000 sample-point 0.875\n\t  dbitrate 2000000',
  );

  it.each([
    ['up at 1 Mbit/s', 0, UP, { exists: true, up: true, bitrate: 1_000_000 }],
    ['down, no bitrate yet', 0, DOWN, { exists: true, up: false, bitrate: null }],
    ['CAN FD: the data bitrate is not the bitrate', 0, FD, { exists: true, up: true, bitrate: 500_000 }],
    ['gone', 1, 'Device "can0" does not exist.\n', { exists: false, up: false, bitrate: null }],
    ['ip killed', null, '', { exists: false, up: false, bitrate: null }],
  ])('%s', (_name, code, stdout, link) => expect(parseCanLink(code, stdout)).toEqual(link));

  it.each([
    ['back as before', { exists: true, up: true, bitrate: 1_000_000 }, 1_000_000, { ready: true }],
    ['back, bitrate unknown before', { exists: true, up: true, bitrate: 500_000 }, null, { ready: true }],
    [
      'not back',
      { exists: false, up: false, bitrate: null },
      1_000_000,
      { ready: false, detail: 'can0 does not exist' },
    ],
    [
      'back but down',
      { exists: true, up: false, bitrate: 1_000_000 },
      1_000_000,
      { ready: false, detail: 'can0 exists but is down' },
    ],
    [
      'up without a bitrate',
      { exists: true, up: true, bitrate: null },
      null,
      { ready: false, detail: 'can0 is up but has no bitrate set' },
    ],
    [
      'another bitrate',
      { exists: true, up: true, bitrate: 500_000 },
      1_000_000,
      { ready: false, detail: 'can0 came back at 500000 bit/s, it ran at 1000000 bit/s' },
    ],
  ])('%s', (_name, link, before, check) => expect(bridgeBusCheck('can0', link, before)).toEqual(check));
});
