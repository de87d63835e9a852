import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { RolloutsService } from './rollouts.service';

/** How often rollouts waiting for their maintenance window look whether it opened. */
const TICK_MS = 10_000;

/**
 * Starts the hosts of rollouts whose maintenance window has opened. Every API process ticks;
 * advancing is serialised per rollout in the database, so a host is still queued once.
 */
@Injectable()
export class RolloutClock implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;

  constructor(@Inject(RolloutsService) private readonly rollouts: RolloutsService) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.rollouts.advanceWindowed();
    } catch (error) {
      console.error(
        `lockstep-api: rollouts waiting for their window could not be moved on: ${(error as Error).message}`,
      );
    } finally {
      this.ticking = false;
    }
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
