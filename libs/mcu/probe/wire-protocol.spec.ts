import { crc16Ccitt, encodeVlq } from '@lockstep/mcu';
import { FRESH_CONNECT, RECONNECT, type RealExchangeStep } from '../src/protocol/fixtures/real-linux-mcu';
import { hexBytes, toHex } from '../src/protocol/fixtures/blocks';
import { runPython } from './testing/probe-process';

jest.setTimeout(20_000);

/** Feeds MCU bytes to the probe's IdentifySession; prints what it writes after start and each step. */
const REPLAY = `
import json, sys
sys.path.insert(0, sys.argv[1])
from lockstep_probe import wire
session = wire.IdentifySession()
writes = [session.start().hex()]
for mcu in json.load(sys.stdin):
    writes.append(session.receive(bytes.fromhex(mcu)).hex())
print(json.dumps(writes))
`;

const CODEC = `
import json, sys
sys.path.insert(0, sys.argv[1])
from lockstep_probe import wire
cases = json.load(sys.stdin)
print(json.dumps({
    "vlq": [wire.encode_vlq(v).hex() for v in cases["vlq"]],
    "decoded": [wire.decode_vlq(wire.encode_vlq(v), 0)[0] for v in cases["vlq"]],
    "crc": [wire.crc16_ccitt(bytes.fromhex(h)) for h in cases["crc"]],
}))
`;

async function replay(steps: readonly RealExchangeStep[]): Promise<string[]> {
  const input = JSON.stringify(steps.map((step) => toHex(hexBytes(step.mcu))));
  return JSON.parse(await runPython(REPLAY, input)) as string[];
}

describe("the probe's wire protocol against bytes captured from a real Klipper MCU", () => {
  it.each([
    ['a freshly started MCU (stale starting/stats, then its nak)', FRESH_CONNECT],
    ['an MCU an earlier session talked to', RECONNECT],
  ])('writes what the TypeScript IdentifySession wrote to %s', async (_what, steps) => {
    const writes = await replay(steps);

    // The host bytes of step n+1 are what the session writes after step n's MCU bytes.
    steps.forEach((step, i) => expect(writes[i]).toBe(toHex(hexBytes(step.host))));
  });

  it('encodes VLQs and CRCs like the TypeScript codec', async () => {
    const vlq = [
      0,
      1,
      40,
      95,
      96,
      -1,
      -32,
      -33,
      4009,
      12287,
      12288,
      -4096,
      -4097,
      2 ** 20,
      2 ** 31,
      0xffffffff,
    ];
    const crc = ['', '0811010028', '08100100285e9f', '0123456789abcdef'];

    const got = JSON.parse(await runPython(CODEC, JSON.stringify({ vlq, crc }))) as {
      vlq: string[];
      decoded: number[];
      crc: number[];
    };

    expect(got.vlq).toEqual(vlq.map((v) => toHex(encodeVlq(v))));
    expect(got.decoded).toEqual(vlq.map((v) => v >>> 0));
    expect(got.crc).toEqual(crc.map((h) => crc16Ccitt(hexBytes(h))));
  });
});
