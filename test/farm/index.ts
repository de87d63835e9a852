export {
  Farm,
  FarmHost,
  downAllFarms,
  sweepStaleFarms,
  type FarmOptions,
  type FarmStatus,
  type HostCpu,
} from './farm';
export { HostShell, pinnedHostKey, type ShellResult } from './host-shell';
export { identifyMcu, SerialChannel, type McuChannel } from './identify-client';
export {
  FAULT_DESCRIPTIONS,
  HOST_FAULTS,
  INSTANCE_FAULTS,
  MCU_FAULTS,
  type FaultKind,
  type FaultSpec,
} from './faults';
export { publishKlipperCommit, KLIPPER_RELEASES } from './klipper-repo';
export { buildProfile, PROFILE_NAMES, type ProfileName } from './profiles';
export type { HostSnapshot, InstanceSnapshot, McuSnapshot } from './hostd/snapshot';
export {
  boardSection,
  instanceDataDir,
  instanceOfBoard,
  simInstances,
  type SimBoardSpec,
  type SimHostSpec,
  type SimInstance,
  type SimInstanceBoard,
  type SimInstanceSpec,
} from './spec';
export type { AuditEntry } from './hostd/audit';
