import type { AuditLog } from './audit';
import type { ServiceState } from './snapshot';

export interface ServiceUnit {
  name: string;
  description: string;
  mainProgram: string;
  isActive(): boolean;
  /** Returns false when a unit condition kept it from starting (systemd then reports success). */
  start(): Promise<boolean>;
  stop(): Promise<void>;
}

export interface ServiceResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const MUTATING = new Set(['start', 'stop', 'restart', 'try-restart', 'reload-or-restart']);

/**
 * systemd as `systemctl` and `service` show it for the printer's units: exit codes of systemctl
 * (is-active 0/3, status 0/3/4, unknown unit 5), and no changes without root.
 */
export class ServiceManager {
  private readonly units = new Map<string, ServiceUnit>();
  private readonly since = new Map<string, Date>();

  constructor(private readonly audit: AuditLog) {}

  add(unit: ServiceUnit): void {
    this.units.set(unit.name, unit);
  }

  states(): Record<string, ServiceState> {
    return Object.fromEntries(
      [...this.units.values()].map((u) => [u.name, u.isActive() ? 'active' : 'inactive']),
    );
  }

  async handle(action: string, rawUnit: string, euid: number): Promise<ServiceResult> {
    const name = rawUnit.replace(/\.service$/, '');
    const unitFile = `${name}.service`;
    const unit = this.units.get(name);
    const verb = action === 'restart' ? 'restart' : action === 'stop' ? 'stop' : 'start';
    if (MUTATING.has(action) || action === 'enable' || action === 'disable') {
      if (!unit)
        return {
          exitCode: 5,
          stdout: '',
          stderr: `Failed to ${verb} ${unitFile}: Unit ${unitFile} not found.\n`,
        };
      if (euid !== 0) {
        return {
          exitCode: 4,
          stdout: '',
          stderr: `Failed to ${verb} ${unitFile}: Interactive authentication required.\nSee system logs and 'systemctl status ${unitFile}' for details.\n`,
        };
      }
    }
    switch (action) {
      case 'start':
        await this.start(unit!);
        return ok();
      case 'stop':
        await this.stop(unit!);
        return ok();
      case 'restart':
      case 'try-restart':
      case 'reload-or-restart':
        if (action === 'restart' || unit!.isActive()) {
          await this.stop(unit!);
          await this.start(unit!);
        }
        return ok();
      case 'enable':
      case 'disable':
        return ok();
      case 'is-active': {
        const active = unit?.isActive() ?? false;
        return { exitCode: active ? 0 : 3, stdout: active ? 'active\n' : 'inactive\n', stderr: '' };
      }
      case 'is-enabled':
        return unit
          ? { exitCode: 0, stdout: 'enabled\n', stderr: '' }
          : {
              exitCode: 1,
              stdout: '',
              stderr: `Failed to get unit file state for ${unitFile}: No such file or directory\n`,
            };
      case 'status':
        if (!unit) return { exitCode: 4, stdout: '', stderr: `Unit ${unitFile} could not be found.\n` };
        return { exitCode: unit.isActive() ? 0 : 3, stdout: this.status(unit), stderr: '' };
      default:
        return { exitCode: 1, stdout: '', stderr: `Unknown command verb ${action}.\n` };
    }
  }

  private async start(unit: ServiceUnit): Promise<void> {
    if (unit.isActive()) return;
    const started = await unit.start();
    if (started) this.since.set(unit.name, new Date());
    this.audit.write('service', { unit: unit.name, action: 'start', active: unit.isActive() });
  }

  private async stop(unit: ServiceUnit): Promise<void> {
    if (!unit.isActive()) return;
    await unit.stop();
    this.since.set(unit.name, new Date());
    this.audit.write('service', { unit: unit.name, action: 'stop', active: unit.isActive() });
  }

  private status(unit: ServiceUnit): string {
    const active = unit.isActive();
    const since = (this.since.get(unit.name) ?? new Date()).toUTCString();
    return [
      `${active ? '●' : '○'} ${unit.name}.service - ${unit.description}`,
      `     Loaded: loaded (/etc/systemd/system/${unit.name}.service; enabled; preset: enabled)`,
      active ? `     Active: active (running) since ${since}` : `     Active: inactive (dead) since ${since}`,
      ...(active ? [`   Main PID: ${process.pid} (${unit.mainProgram})`] : []),
      '',
    ].join('\n');
  }
}

function ok(): ServiceResult {
  return { exitCode: 0, stdout: '', stderr: '' };
}
