import { type CanFrame } from '../can-frame';
import { type CanbusUuid } from '../canbus-uuid';
import {
  type AdminCommand,
  type CanbusApplication,
  decodeAdminCommand,
  encodeNeedNodeIdResponse,
} from '../klipper-admin';
import { type CanTransport } from '../transport';

/**
 * A node's admin behaviour as Klipper's and Katapult's src/generic/canserial.c implement it,
 * for tests: answers QUERY_UNASSIGNED while unassigned, takes a node id addressed to its uuid
 * with its application's set-nodeid command, Katapult drops it on CLEAR, Klipper reboots into
 * Katapult on REQUEST_BOOTLOADER.
 */
export class FakeCanNode {
  nodeId: number | undefined;
  readonly heard: AdminCommand[] = [];

  constructor(
    private readonly transport: CanTransport,
    readonly uuid: CanbusUuid,
    public application: CanbusApplication,
  ) {}

  /** Starts listening; returns the function that stops. */
  start(): () => void {
    return this.transport.onFrame((frame) => this.handle(frame));
  }

  private handle(frame: CanFrame): void {
    const command = decodeAdminCommand(frame);
    if (!command) return;
    this.heard.push(command);
    switch (command.kind) {
      case 'queryUnassigned':
        if (this.nodeId === undefined) {
          void this.transport.send(
            encodeNeedNodeIdResponse({ uuid: this.uuid, application: this.application }),
          );
        }
        break;
      case 'setKlipperNodeId':
      case 'setKatapultNodeId': {
        const ownCommand = this.application === 'klipper' ? 'setKlipperNodeId' : 'setKatapultNodeId';
        if (command.kind === ownCommand && command.uuid === this.uuid) this.nodeId = command.nodeId;
        break;
      }
      case 'clearKatapultNodeIds':
        if (this.application === 'katapult') this.nodeId = undefined;
        break;
      case 'requestBootloader':
        if (this.application === 'klipper' && command.uuid === this.uuid) {
          this.application = 'katapult';
          this.nodeId = undefined;
        }
        break;
    }
  }
}
