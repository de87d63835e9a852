import type { FaultSpec } from '../faults';
import type { SimBoardKind } from '../spec';

export type ServiceState = 'active' | 'inactive' | 'failed';
export type BoardMode = 'app' | 'katapult' | 'dfu' | 'rom' | 'absent';

export interface McuSnapshot {
  name: string;
  kind: SimBoardKind;
  mcuType: string;
  mode: BoardMode;
  /** Version of the firmware the board runs (null when it has none or runs its bootloader). */
  version: string | null;
  /** Device path while the board shows a tty (Klipper or Katapult). */
  device?: string;
  canbusUuid?: string;
  flashCount: number;
}

export interface InstanceSnapshot {
  /** KIAUH's instance name; null for the single instance of a host without instances. */
  name: string | null;
  klipperUnit: string;
  klippy: { state: string; stateMessage: string };
  print: { state: string; queueState: string };
}

export interface HostSnapshot {
  name: string;
  address: string;
  hostVersion: string;
  services: Record<string, ServiceState>;
  /** The first (or only) instance's klippy and print. */
  klippy: { state: string; stateMessage: string };
  print: { state: string; queueState: string };
  /** Every Klipper instance of the host, in its order. */
  instances: InstanceSnapshot[];
  mcus: McuSnapshot[];
  can?: { interface: string; bitrate: number; nodeBitrate: number };
  faults: FaultSpec[];
}
