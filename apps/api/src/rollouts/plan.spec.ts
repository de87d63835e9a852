import { rolloutRequestSchema } from '@lockstep/contracts';
import type { HostView } from '../hosts/hosts.repository';
import { batchesOf, hostIsCurrent, hostJob, PlanError, selectHosts } from './plan';

const host = (id: string, printers: string[], groups: string[] = [], tags: string[] = []): HostView => ({
  id,
  address: '10.0.0.1',
  port: 22,
  user: 'pi',
  hostKey: null,
  hostKeyFingerprint: null,
  hostKeyState: 'pending',
  hostKeyProblem: null,
  blockedReason: null,
  build: false,
  machine: null,
  groups,
  tags,
  can: {},
  paths: {},
  createdAt: '2026-12-03T00:00:00.000Z',
  printers: printers.map((p) => ({
    id: p,
    hostId: id,
    service: 'klipper',
    printerConfig: '~/printer_data/config/printer.cfg',
    moonrakerPort: 7125,
    version: null,
    needsAttention: null,
    mcus: [],
  })),
});
const strategy = (s: Record<string, unknown>) =>
  rolloutRequestSchema.parse({ to: 'v0.13.0', strategy: s }).strategy;
const FLEET = [
  host('a', ['a1'], ['hall']),
  host('b', ['b1', 'b2', 'b3'], [], ['voron']),
  host('c', ['c1'], ['hall']),
];

describe('rollout plans', () => {
  it('selects by group, tag or printer; a printer brings its host and the host its siblings', () => {
    expect(selectHosts(FLEET, { groups: ['hall'] }).hosts.map((h) => h.id)).toEqual(['a', 'c']);
    expect(selectHosts(FLEET, { tags: ['voron'] }).hosts.map((h) => h.id)).toEqual(['b']);
    expect(selectHosts(FLEET, { printers: ['b2', 'c1'] })).toEqual({
      hosts: [FLEET[1], FLEET[2]],
      siblings: [{ printer: 'b2', host: 'b', with: ['b1', 'b3'] }],
    });
    expect(() => selectHosts(FLEET, { printers: ['a1', 'zz'] })).toThrow(
      new PlanError(['selection.printers.1: no printer zz in the inventory']),
    );
  });

  it.each<[Record<string, unknown>, number, number[]]>([
    [{ canary: 1, batchSize: 2 }, 6, [0, 1, 1, 2, 2, 3]],
    [{ canary: 0, batchSize: '50%' }, 5, [1, 1, 1, 2, 2]],
    [{ canary: 2, batchSize: '100%' }, 5, [0, 0, 1, 1, 1]],
    [{ canary: 3 }, 2, [0, 0]],
    [{ canary: 1, batchSize: 0 }, 3, [0, 1, 2]],
  ])('batches %j of %i hosts as %j', (s, count, batches) => {
    expect(batchesOf(count, strategy(s))).toEqual(batches);
  });

  it('never selects a build host that has no printer of its own', () => {
    const fleet = [...FLEET, { ...host('builder', [], ['hall']), build: true }];
    expect(selectHosts(fleet, { all: true }).hosts.map((h) => h.id)).toEqual(['a', 'b', 'c']);
    expect(selectHosts(fleet, { groups: ['hall'] }).hosts.map((h) => h.id)).toEqual(['a', 'c']);
  });

  it('refuses a job for a blocked host, naming it and saying why', () => {
    const target = { ref: 'v0.13.0', commit: 'a'.repeat(40), version: 'v0.13.0-0-g1b6ba2e' };
    const blocked = {
      ...host('d', ['d1']),
      hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB',
      hostKeyState: 'blocked' as const,
      blockedReason: 'host key changed: re-pin it',
    };
    expect(() => hostJob(blocked, [], { id: 'r1', target, strategy: strategy({}) }, 1)).toThrow(
      new PlanError(['host d is blocked: host key changed: re-pin it']),
    );
  });

  it('counts a host as current only when every printer and every known MCU runs the target', () => {
    const target = { ref: 'v0.13.0', commit: 'a'.repeat(40), version: 'v0.13.0-0-g1b6ba2e' };
    const current = host('d', ['d1']);
    current.printers[0]!.version = target.version;
    expect(hostIsCurrent(current, target)).toBe(true);
    current.printers[0]!.mcus.push({
      name: 'mcu',
      kind: 'usb-stm32',
      bootloader: 'katapult',
      kconfigSha256: 'x',
      version: null,
    });
    expect(hostIsCurrent(current, target)).toBe(false);
    expect(hostIsCurrent(host('e', ['e1']), target)).toBe(false);
  });
});
