import type { UpdateStep } from '@lockstep/contracts';
import { helperServiceArgv } from '@lockstep/mcu';
import type { PrinterHost } from './printer-host';
import { shellCommand } from './shell-quote';

/** The `klipper` systemd unit, started and stopped through the host helper (deploy/host-helper). */
export class KlipperService {
  constructor(
    private readonly host: PrinterHost,
    readonly unit = 'klipper',
  ) {}

  /** What systemd says now; never a remembered guess. */
  async isActive(): Promise<boolean> {
    const result = await this.host.run(shellCommand(['systemctl', 'is-active', this.unit]));
    return result.stdout.trim() === 'active';
  }

  async start(step: UpdateStep): Promise<void> {
    await this.systemctl(step, 'start');
  }

  async stop(step: UpdateStep): Promise<void> {
    await this.systemctl(step, 'stop');
  }

  private async systemctl(step: UpdateStep, action: 'start' | 'stop'): Promise<void> {
    await this.host.check(
      step,
      `lockstep-host-helper service ${action} ${this.unit}`,
      shellCommand(helperServiceArgv(action, this.unit)),
    );
  }
}
