/**
 * A USB-to-CAN bridge mainboard (Klipper built with CONFIG_USBCANBUS): while it runs Klipper it
 * is the host's CAN interface; flashing it takes that interface down until it runs again.
 */

const MASK_64 = (1n << 64n) - 1n;
const FASTHASH_M = 0x880355f21e6d1965n;
/** The seed Klipper hashes the chip id with to make a canbus_uuid. */
const UUID_SEED = 0xa16231a7n;

function mix(value: bigint): bigint {
  let v = value ^ (value >> 23n);
  v = (v * 0x2127599bf4325c37n) & MASK_64;
  return v ^ (v >> 47n);
}

function fasthash64(data: Buffer, seed: bigint): bigint {
  let h = seed ^ ((BigInt(data.length) * FASTHASH_M) & MASK_64);
  const whole = data.length - (data.length % 8);
  for (let offset = 0; offset < whole; offset += 8) {
    h = ((h ^ mix(data.readBigUInt64LE(offset))) * FASTHASH_M) & MASK_64;
  }
  if (whole < data.length) {
    let tail = 0n;
    data.subarray(whole).forEach((byte, i) => (tail |= BigInt(byte) << BigInt(8 * i)));
    h = ((h ^ mix(tail)) * FASTHASH_M) & MASK_64;
  }
  return mix(h);
}

/**
 * The canbus_uuid of a board whose USB serial number is its chip id in hex (Klipper's and
 * Katapult's default), or null when the serial is not hex bytes.
 */
export function canbusUuidOfUsbSerial(serial: string): string | null {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(serial)) return null;
  const hash = fasthash64(Buffer.from(serial, 'hex'), UUID_SEED);
  let uuid = '';
  for (let i = 0; i < 6; i++)
    uuid += Number((hash >> BigInt(8 * i)) & 0xffn)
      .toString(16)
      .padStart(2, '0');
  return uuid;
}

const KATAPULT_BY_ID = /^usb-(?:katapult|CanBoot)_[A-Za-z0-9._-]+?_([0-9A-Fa-f]+)-if00$/;

/**
 * The /dev/serial/by-id name a bridge takes in Katapult (`usb-katapult_...`, or `usb-CanBoot_...`
 * for builds from before the rename): the one whose serial number gives the bridge's UUID.
 */
export function bridgeKatapultDevice(canbusUuid: string, byIdNames: readonly string[]): string | null {
  const uuid = canbusUuid.toLowerCase();
  for (const name of byIdNames) {
    const serial = KATAPULT_BY_ID.exec(name)?.[1];
    if (serial !== undefined && canbusUuidOfUsbSerial(serial) === uuid) return `/dev/serial/by-id/${name}`;
  }
  return null;
}

export interface CanLink {
  exists: boolean;
  /** The interface is administratively up with its lower layer (`<...,UP,LOWER_UP...>`). */
  up: boolean;
  /** The configured bitrate, when `ip -details` shows one. */
  bitrate: number | null;
}

/** `ip -details link show IFACE` as a CAN link (klipper.md §4: the layout varies, so only these). */
export function parseCanLink(exitCode: number | null, stdout: string): CanLink {
  if (exitCode !== 0) return { exists: false, up: false, bitrate: null };
  const flags = /<([A-Z0-9_,-]*)>/.exec(stdout)?.[1]?.split(',') ?? [];
  const bitrate = /\bbitrate (\d+)/.exec(stdout);
  return {
    exists: true,
    up: flags.includes('UP') && flags.includes('LOWER_UP'),
    bitrate: bitrate ? Number(bitrate[1]) : null,
  };
}

export type BridgeBusCheck = { ready: true } | { ready: false; detail: string };

/**
 * Whether a bridge's CAN interface is back for the nodes behind it: present, up, and at the
 * bitrate the host configured it with before the flash (Linux's setting is what hotplug restores;
 * the bridge firmware ignores it). Without a bitrate from before, any configured one will do.
 */
export function bridgeBusCheck(iface: string, link: CanLink, bitrateBefore: number | null): BridgeBusCheck {
  if (!link.exists) return { ready: false, detail: `${iface} does not exist` };
  if (!link.up) return { ready: false, detail: `${iface} exists but is down` };
  if (link.bitrate === null) return { ready: false, detail: `${iface} is up but has no bitrate set` };
  if (bitrateBefore !== null && link.bitrate !== bitrateBefore) {
    return {
      ready: false,
      detail: `${iface} came back at ${link.bitrate} bit/s, it ran at ${bitrateBefore} bit/s`,
    };
  }
  return { ready: true };
}
