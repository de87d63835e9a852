import type { FaultKind, FaultSpec } from '../faults';
import type { AuditLog } from './audit';

/** The faults a host currently shows. A fault with a count disarms after triggering that often. */
export class FaultRegistry {
  private faults: FaultSpec[] = [];

  constructor(private readonly audit: AuditLog) {}

  set(spec: FaultSpec): void {
    this.faults = this.faults.filter(
      (f) => !(f.kind === spec.kind && f.mcu === spec.mcu && f.instance === spec.instance),
    );
    if (spec.count !== 0) this.faults.push({ ...spec });
    this.audit.write('fault-set', { fault: spec });
  }

  /** Removes the faults of that kind, MCU and instance (any of each left out). */
  clear(kind?: FaultKind, mcu?: string, instance?: string): FaultSpec[] {
    const removed = this.faults.filter((f) => matches(f, kind, mcu, instance));
    this.faults = this.faults.filter((f) => !matches(f, kind, mcu, instance));
    if (removed.length > 0) this.audit.write('fault-cleared', { faults: removed });
    return removed;
  }

  list(): FaultSpec[] {
    return this.faults.map((f) => ({ ...f }));
  }

  /** The armed fault of that kind (for that MCU, or host-wide when the fault names none). */
  peek(kind: FaultKind, mcu?: string): FaultSpec | undefined {
    return this.faults.find((f) => f.kind === kind && (f.mcu === undefined || f.mcu === mcu));
  }

  /** Like peek, but counts one trigger and records it in the audit log. */
  trigger(kind: FaultKind, mcu?: string): FaultSpec | undefined {
    const fault = this.peek(kind, mcu);
    if (!fault) return undefined;
    if (fault.count !== undefined) {
      fault.count -= 1;
      if (fault.count <= 0) this.faults = this.faults.filter((f) => f !== fault);
    }
    this.audit.write('fault-triggered', { kind, mcu });
    return { ...fault };
  }
}

function matches(fault: FaultSpec, kind?: FaultKind, mcu?: string, instance?: string): boolean {
  return (
    (kind === undefined || fault.kind === kind) &&
    (mcu === undefined || fault.mcu === mcu) &&
    (instance === undefined || fault.instance === instance)
  );
}
