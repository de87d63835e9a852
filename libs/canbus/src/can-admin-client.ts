import { type CanbusUuid } from './canbus-uuid';
import {
  type CanbusApplication,
  decodeNeedNodeIdResponse,
  encodeAdminCommand,
  type UnassignedNode,
} from './klipper-admin';
import { type CanTransport } from './transport';

/** canbus_query.py and flashtool.py -q both listen for 2 s. */
export const DEFAULT_QUERY_WINDOW_MS = 2000;

/**
 * Sends QUERY_UNASSIGNED and collects RESP_NEED_NODEID answers for the window, one entry per
 * uuid in arrival order. Only nodes without a node id answer: a node a running klippy holds
 * stays silent, so stop klipper first.
 */
export async function queryUnassigned(
  transport: CanTransport,
  options: { timeoutMs?: number } = {},
): Promise<UnassignedNode[]> {
  const found = new Map<CanbusUuid, UnassignedNode>();
  const stopListening = transport.onFrame((frame) => {
    const node = decodeNeedNodeIdResponse(frame);
    if (node && !found.has(node.uuid)) found.set(node.uuid, node);
  });
  try {
    await transport.send(encodeAdminCommand({ kind: 'queryUnassigned' }));
    await new Promise((resolve) => setTimeout(resolve, options.timeoutMs ?? DEFAULT_QUERY_WINDOW_MS));
  } finally {
    stopListening();
  }
  return [...found.values()];
}

/**
 * Assigns `nodeId` to the node with `uuid`, with the command of the application it runs
 * (SET_KLIPPER_NODEID, or Katapult's SET_CANBOOT_NODEID). The protocol has no reply: talk to
 * the node on its stream (CanNodeStream.forHost) to confirm, as klippy does with get_canbus_id.
 */
export async function assignNodeId(
  transport: CanTransport,
  uuid: CanbusUuid,
  nodeId: number,
  options: { application?: CanbusApplication } = {},
): Promise<void> {
  const kind = options.application === 'katapult' ? 'setKatapultNodeId' : 'setKlipperNodeId';
  await transport.send(encodeAdminCommand({ kind, uuid, nodeId }));
}
