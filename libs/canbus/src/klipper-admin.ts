import { type CanFrame, isStandardDataFrame } from './can-frame';
import { CANBUS_UUID_LENGTH, type CanbusUuid, canbusUuidFromBytes, canbusUuidToBytes } from './canbus-uuid';

// Klipper src/generic/canserial.c, docs/CANBUS_protocol.md; Katapult src/generic/canserial.c.
/** Host -> all nodes ("broadcast"). */
export const CANBUS_ID_ADMIN = 0x3f0;
/** Nodes -> host. */
export const CANBUS_ID_ADMIN_RESP = 0x3f1;

export const ADMIN_COMMAND_CODES = {
  queryUnassigned: 0x00,
  setKlipperNodeId: 0x01,
  requestBootloader: 0x02,
  /** Katapult's CANBUS_CMD_SET_CANBOOT_NODEID. */
  setKatapultNodeId: 0x11,
  /** Katapult's CANBUS_CMD_CLEAR_CANBOOT_NODEID: every Katapult node drops its id. */
  clearKatapultNodeIds: 0x12,
} as const;
export const RESP_NEED_NODEID = 0x20;

export type AdminCommand =
  | { kind: 'queryUnassigned' }
  | { kind: 'setKlipperNodeId'; uuid: CanbusUuid; nodeId: number }
  | { kind: 'requestBootloader'; uuid: CanbusUuid }
  | { kind: 'setKatapultNodeId'; uuid: CanbusUuid; nodeId: number }
  | { kind: 'clearKatapultNodeIds' };

export type CanbusApplication = 'klipper' | 'katapult';

export interface UnassignedNode {
  uuid: CanbusUuid;
  application: CanbusApplication | 'unknown';
}

/**
 * The app byte of RESP_NEED_NODEID is the set-nodeid command the node obeys, which is how
 * canbus_query.py and flashtool.py tell Klipper from Katapult.
 */
const APPLICATION_CODES: Record<CanbusApplication, number> = {
  klipper: ADMIN_COMMAND_CODES.setKlipperNodeId,
  katapult: ADMIN_COMMAND_CODES.setKatapultNodeId,
};

/** klippy assigns node ids from 4 up (klippy/extras/canbus_ids.py NODEID_FIRST). */
export const MIN_NODE_ID = 4;
/** The node id travels as one byte in SET_KLIPPER_NODEID / SET_CANBOOT_NODEID. */
export const MAX_NODE_ID = 255;
const NODE_ID_BASE_CAN_ID = 0x100;

export function assertNodeId(nodeId: number): void {
  if (!Number.isInteger(nodeId) || nodeId < MIN_NODE_ID || nodeId > MAX_NODE_ID) {
    throw new RangeError(
      `CAN node id ${nodeId} is out of range: use ${MIN_NODE_ID}..${MAX_NODE_ID} ` +
        `(klippy assigns from ${MIN_NODE_ID}; the admin command carries one byte)`,
    );
  }
}

/** CAN ids of a node's byte stream: host -> node is nodeId*2 + 0x100, node -> host the next id. */
export function nodeCanIds(nodeId: number): { hostToNode: number; nodeToHost: number } {
  assertNodeId(nodeId);
  const hostToNode = nodeId * 2 + NODE_ID_BASE_CAN_ID;
  return { hostToNode, nodeToHost: hostToNode + 1 };
}

/** Inverse of `nodeCanIds`, for sniffing traffic; undefined for ids outside the node range. */
export function nodeIdForCanId(
  canId: number,
): { nodeId: number; direction: 'hostToNode' | 'nodeToHost' } | undefined {
  const offset = canId - NODE_ID_BASE_CAN_ID;
  const nodeId = Math.floor(offset / 2);
  if (!Number.isInteger(canId) || nodeId < MIN_NODE_ID || nodeId > MAX_NODE_ID) return undefined;
  return { nodeId, direction: offset % 2 === 0 ? 'hostToNode' : 'nodeToHost' };
}

export function encodeAdminCommand(command: AdminCommand): CanFrame {
  const code = ADMIN_COMMAND_CODES[command.kind];
  let data: Buffer;
  switch (command.kind) {
    case 'queryUnassigned':
    case 'clearKatapultNodeIds':
      data = Buffer.from([code]);
      break;
    case 'requestBootloader':
      data = Buffer.concat([Buffer.from([code]), canbusUuidToBytes(command.uuid)]);
      break;
    case 'setKlipperNodeId':
    case 'setKatapultNodeId':
      assertNodeId(command.nodeId);
      data = Buffer.concat([
        Buffer.from([code]),
        canbusUuidToBytes(command.uuid),
        Buffer.from([command.nodeId]),
      ]);
      break;
  }
  return { id: CANBUS_ID_ADMIN, data };
}

/**
 * Decodes what a node hears on 0x3f0. Returns undefined for everything the firmware ignores:
 * other ids, empty frames, unknown commands, and commands shorter than the firmware requires
 * (7 bytes with a uuid, 8 with a node id). The node id is returned as sent, unchecked.
 */
export function decodeAdminCommand(frame: CanFrame): AdminCommand | undefined {
  if (frame.id !== CANBUS_ID_ADMIN || !isStandardDataFrame(frame) || frame.data.length === 0)
    return undefined;
  const data = frame.data;
  const uuidEnd = 1 + CANBUS_UUID_LENGTH;
  const uuid = () => canbusUuidFromBytes(data.subarray(1, uuidEnd));
  switch (data[0]) {
    case ADMIN_COMMAND_CODES.queryUnassigned:
      return { kind: 'queryUnassigned' };
    case ADMIN_COMMAND_CODES.clearKatapultNodeIds:
      return { kind: 'clearKatapultNodeIds' };
    case ADMIN_COMMAND_CODES.requestBootloader:
      return data.length >= uuidEnd ? { kind: 'requestBootloader', uuid: uuid() } : undefined;
    case ADMIN_COMMAND_CODES.setKlipperNodeId:
      return data.length > uuidEnd
        ? { kind: 'setKlipperNodeId', uuid: uuid(), nodeId: data[uuidEnd]! }
        : undefined;
    case ADMIN_COMMAND_CODES.setKatapultNodeId:
      return data.length > uuidEnd
        ? { kind: 'setKatapultNodeId', uuid: uuid(), nodeId: data[uuidEnd]! }
        : undefined;
    default:
      return undefined;
  }
}

/** RESP_NEED_NODEID, as an unassigned node sends it in answer to QUERY_UNASSIGNED. */
export function encodeNeedNodeIdResponse(node: {
  uuid: CanbusUuid;
  application: CanbusApplication;
}): CanFrame {
  return {
    id: CANBUS_ID_ADMIN_RESP,
    data: Buffer.concat([
      Buffer.from([RESP_NEED_NODEID]),
      canbusUuidToBytes(node.uuid),
      Buffer.from([APPLICATION_CODES[node.application]]),
    ]),
  };
}

/**
 * Decodes RESP_NEED_NODEID; undefined for any other frame. Like canbus_query.py, a 7-byte
 * response (no app byte) counts as Klipper.
 */
export function decodeNeedNodeIdResponse(frame: CanFrame): UnassignedNode | undefined {
  const data = frame.data;
  const uuidEnd = 1 + CANBUS_UUID_LENGTH;
  if (frame.id !== CANBUS_ID_ADMIN_RESP || !isStandardDataFrame(frame)) return undefined;
  if (data.length < uuidEnd || data[0] !== RESP_NEED_NODEID) return undefined;
  const appCode = data.length > uuidEnd ? data[uuidEnd] : APPLICATION_CODES.klipper;
  const application =
    (Object.keys(APPLICATION_CODES) as CanbusApplication[]).find(
      (app) => APPLICATION_CODES[app] === appCode,
    ) ?? 'unknown';
  return { uuid: canbusUuidFromBytes(data.subarray(1, uuidEnd)), application };
}
