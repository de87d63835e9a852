import {
  HOST_HELPER_PROTOCOL,
  helperFlashDfuArgv,
  hostHelperProblem,
  parseHelperStatus,
  type HostHelperStatus,
} from './host-helper';

const INSTALL = 'sudo sh deploy/host-helper/install.sh --user pi';
const FULL: HostHelperStatus = {
  protocol: HOST_HELPER_PROTOCOL,
  commands: ['flash-dfu', 'flash-rp2040', 'install-linux-mcu', 'service', 'status'],
  dfuUtil: '/usr/bin/dfu-util',
  rp2040Flash: '/usr/local/libexec/lockstep/rp2040_flash',
};

describe('parseHelperStatus', () => {
  it('reads what the helper prints', () => {
    expect(parseHelperStatus(`${JSON.stringify(FULL)}\n`)).toEqual(FULL);
    expect(parseHelperStatus(JSON.stringify({ ...FULL, dfuUtil: null, rp2040Flash: null }))).toEqual({
      ...FULL,
      dfuUtil: null,
      rp2040Flash: null,
    });
  });

  it.each([
    ['not JSON', 'sudo: a password is required'],
    ['not an object', '2'],
    ['no protocol', JSON.stringify({ ...FULL, protocol: undefined })],
    ['a fractional protocol', JSON.stringify({ ...FULL, protocol: 1.5 })],
    ['commands that are not strings', JSON.stringify({ ...FULL, commands: [1] })],
    ['a relative tool path', JSON.stringify({ ...FULL, dfuUtil: 'dfu-util' })],
    ['a tool path that is not a string', JSON.stringify({ ...FULL, rp2040Flash: true })],
  ])('refuses %s', (_what, text) => {
    expect(parseHelperStatus(text)).toBeNull();
  });
});

describe('hostHelperProblem', () => {
  it('passes a helper that has what the boards need', () => {
    expect(hostHelperProblem(FULL, { dfu: true, rp2040: true }, INSTALL)).toBeNull();
    expect(
      hostHelperProblem(
        { ...FULL, dfuUtil: null, rp2040Flash: null },
        { dfu: false, rp2040: false },
        INSTALL,
      ),
    ).toBeNull();
  });

  it('asks for the installer of this release when the helper is older', () => {
    expect(hostHelperProblem({ ...FULL, protocol: 1 }, { dfu: false, rp2040: false }, INSTALL)).toEqual({
      problem: `the host's lockstep-host-helper speaks protocol 1, this worker needs ${HOST_HELPER_PROTOCOL}`,
      hint: `install the helper of this Lockstep release on the host: ${INSTALL}`,
    });
  });

  it('names dfu-util when a DFU board is to be flashed and the host has none', () => {
    expect(hostHelperProblem({ ...FULL, dfuUtil: null }, { dfu: true, rp2040: false }, INSTALL)).toEqual({
      method: 'dfu',
      problem: 'an STM32 board is flashed in DFU, and the host has no dfu-util',
      hint: 'install it on the host (`sudo apt-get install dfu-util`), then run the update again',
    });
  });

  it("names rp2040_flash's build needs and the installer when an RP2040 is to be flashed without it", () => {
    expect(hostHelperProblem({ ...FULL, rp2040Flash: null }, { dfu: false, rp2040: true }, INSTALL)).toEqual({
      method: 'rp2040-bootloader',
      problem:
        'an RP2040 board is flashed in its boot ROM, and the host helper has no rp2040_flash (install.sh could not build it)',
      hint: `install its build dependencies (\`sudo apt-get install build-essential pkg-config libusb-1.0-0-dev\`), then run the installer again: ${INSTALL}`,
    });
  });
});

describe('helperFlashDfuArgv', () => {
  it('writes the start address as the helper takes it: 0x and eight hex digits', () => {
    expect(helperFlashDfuArgv('v0.13.0', 'ab'.repeat(32), '0483:df11', 0x8002000).at(-1)).toBe('0x08002000');
  });
});
