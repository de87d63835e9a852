import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './command';
import { REPO_ROOT } from './paths';

const REQUIRED = [
  '/usr/sbin/sshd',
  '/usr/bin/sudo',
  '/usr/bin/ssh-keygen',
  '/usr/bin/git',
  '/usr/bin/python3',
  '/usr/bin/make',
  // The hosts' auditing `timeout` (host-tools/timeout.c) is compiled when a farm comes up.
  '/usr/bin/cc',
  // Klipper's rp2040_flash helper builds against libusb-1.0 found by pkg-config.
  '/usr/bin/pkg-config',
  '/usr/include/libusb-1.0/libusb.h',
  // ~/klippy-env is a venv with pyserial, which Katapult's flashtool and flash_usb.py import.
  '/usr/lib/python3/dist-packages/serial/__init__.py',
];

let checked = false;

/** The farm needs OpenSSH's server, git, make, a C compiler and python3 on the machine; installs them if missing. */
export async function ensureSystemPackages(): Promise<void> {
  if (checked) return;
  if (REQUIRED.some((path) => !existsSync(path))) {
    await run('/bin/sh', [join(REPO_ROOT, 'scripts', 'install-system-packages.sh')], { timeoutMs: 600_000 });
  }
  const stillMissing = REQUIRED.filter((path) => !existsSync(path));
  if (stillMissing.length > 0) throw new Error(`the printer farm needs ${stillMissing.join(', ')}`);
  checked = true;
}
