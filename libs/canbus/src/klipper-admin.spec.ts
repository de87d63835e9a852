import { type CanFrame } from './can-frame';
import { parseCanbusUuid } from './canbus-uuid';
import {
  type AdminCommand,
  CANBUS_ID_ADMIN,
  CANBUS_ID_ADMIN_RESP,
  decodeAdminCommand,
  decodeNeedNodeIdResponse,
  encodeAdminCommand,
  encodeNeedNodeIdResponse,
  nodeCanIds,
  nodeIdForCanId,
} from './klipper-admin';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const uuid = parseCanbusUuid('11aa22bb33cc');

// Byte layouts from Klipper docs/CANBUS_protocol.md and src/generic/canserial.c (0x00, 0x01,
// 0x02), Katapult src/generic/canserial.c (0x11, 0x12), all on id 0x3f0.
const commands: { command: AdminCommand; data: string }[] = [
  { command: { kind: 'queryUnassigned' }, data: '00' },
  { command: { kind: 'setKlipperNodeId', uuid, nodeId: 4 }, data: '01 11aa22bb33cc 04' },
  { command: { kind: 'requestBootloader', uuid }, data: '02 11aa22bb33cc' },
  { command: { kind: 'setKatapultNodeId', uuid, nodeId: 129 }, data: '11 11aa22bb33cc 81' },
  { command: { kind: 'clearKatapultNodeIds' }, data: '12' },
];

describe('Klipper CAN admin commands', () => {
  it.each(commands)('encodes $command.kind', ({ command, data }) => {
    expect(encodeAdminCommand(command)).toEqual({ id: CANBUS_ID_ADMIN, data: hex(data) });
  });

  it.each(commands)('decodes $command.kind', ({ command, data }) => {
    expect(decodeAdminCommand({ id: CANBUS_ID_ADMIN, data: hex(data) })).toEqual(command);
  });

  it('decodes a node id klippy would not assign, as the firmware accepts any byte', () => {
    expect(decodeAdminCommand({ id: CANBUS_ID_ADMIN, data: hex('01 11aa22bb33cc 00') })).toEqual({
      kind: 'setKlipperNodeId',
      uuid,
      nodeId: 0,
    });
  });

  it.each<{ name: string; frame: CanFrame }>([
    { name: 'the response id', frame: { id: CANBUS_ID_ADMIN_RESP, data: hex('00') } },
    { name: 'an empty frame', frame: { id: CANBUS_ID_ADMIN, data: hex('') } },
    { name: 'an unknown command', frame: { id: CANBUS_ID_ADMIN, data: hex('03') } },
    {
      name: 'SET_KLIPPER_NODEID without node id',
      frame: { id: CANBUS_ID_ADMIN, data: hex('01 11aa22bb33cc') },
    },
    {
      name: 'SET_CANBOOT_NODEID without node id',
      frame: { id: CANBUS_ID_ADMIN, data: hex('11 11aa22bb33cc') },
    },
    {
      name: 'REQUEST_BOOTLOADER with 5 uuid bytes',
      frame: { id: CANBUS_ID_ADMIN, data: hex('02 11aa22bb33') },
    },
    { name: 'an extended frame', frame: { id: CANBUS_ID_ADMIN, data: hex('00'), extended: true } },
  ])('ignores $name, as the firmware does', ({ frame }) => {
    expect(decodeAdminCommand(frame)).toBeUndefined();
  });

  it.each([3, 256, -1, 4.5])('refuses to assign node id %p', (nodeId) => {
    expect(() => encodeAdminCommand({ kind: 'setKlipperNodeId', uuid, nodeId })).toThrow(RangeError);
  });
});

describe('RESP_NEED_NODEID', () => {
  it.each([
    { application: 'klipper' as const, data: '20 11aa22bb33cc 01' },
    { application: 'katapult' as const, data: '20 11aa22bb33cc 11' },
  ])('encodes and decodes a $application node', ({ application, data }) => {
    const frame = encodeNeedNodeIdResponse({ uuid, application });
    expect(frame).toEqual({ id: CANBUS_ID_ADMIN_RESP, data: hex(data) });
    expect(decodeNeedNodeIdResponse(frame)).toEqual({ uuid, application });
  });

  it.each([
    {
      name: 'no app byte counts as Klipper (canbus_query.py)',
      data: '20 11aa22bb33cc',
      application: 'klipper',
    },
    { name: 'an unknown app byte', data: '20 11aa22bb33cc 05', application: 'unknown' },
  ])('decodes $name', ({ data, application }) => {
    expect(decodeNeedNodeIdResponse({ id: CANBUS_ID_ADMIN_RESP, data: hex(data) })).toEqual({
      uuid,
      application,
    });
  });

  it.each<{ name: string; frame: CanFrame }>([
    { name: 'the admin id', frame: { id: CANBUS_ID_ADMIN, data: hex('20 11aa22bb33cc 01') } },
    { name: 'another response code', frame: { id: CANBUS_ID_ADMIN_RESP, data: hex('21 11aa22bb33cc 01') } },
    { name: 'a truncated uuid', frame: { id: CANBUS_ID_ADMIN_RESP, data: hex('20 11aa22bb33') } },
  ])('ignores $name', ({ frame }) => {
    expect(decodeNeedNodeIdResponse(frame)).toBeUndefined();
  });
});

describe('node id <-> CAN id', () => {
  it.each([
    { nodeId: 4, hostToNode: 0x108, nodeToHost: 0x109, source: 'klippy NODEID_FIRST' },
    { nodeId: 64, hostToNode: 0x180, nodeToHost: 0x181, source: 'klippy/console.py default' },
    { nodeId: 129, hostToNode: 0x202, nodeToHost: 0x203, source: "flashtool.py's first node" },
    { nodeId: 255, hostToNode: 0x2fe, nodeToHost: 0x2ff, source: 'largest one-byte id' },
  ])('node $nodeId ($source)', ({ nodeId, hostToNode, nodeToHost }) => {
    expect(nodeCanIds(nodeId)).toEqual({ hostToNode, nodeToHost });
    expect(nodeIdForCanId(hostToNode)).toEqual({ nodeId, direction: 'hostToNode' });
    expect(nodeIdForCanId(nodeToHost)).toEqual({ nodeId, direction: 'nodeToHost' });
  });

  it.each([0x100, 0x107, 0x300, CANBUS_ID_ADMIN])('has no node for CAN id %i', (canId) => {
    expect(nodeIdForCanId(canId)).toBeUndefined();
  });

  it('refuses node ids klippy would not use', () => {
    expect(() => nodeCanIds(3)).toThrow('4..255');
  });
});
