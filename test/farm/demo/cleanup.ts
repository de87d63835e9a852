/**
 * What the demo started, taken down in reverse order exactly once: at its end, when it fails, or
 * on SIGINT/SIGTERM. A step that fails is reported and the others still run.
 */
export class Cleanup {
  private readonly steps: { what: string; undo: () => Promise<unknown> }[] = [];
  private running: Promise<void> | null = null;
  /** The signal that stopped the demo, if one did. */
  interruptedBy: NodeJS.Signals | null = null;

  add(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.undo();
        } catch (error) {
          console.error(
            `clean-up: ${step.what} failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    })();
    return this.running;
  }

  /** On SIGINT or SIGTERM: clean up, then exit as a process killed by that signal does. */
  onSignals(): void {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
    ] as const) {
      process.once(signal, () => {
        this.interruptedBy = signal;
        console.error(`\n${signal}: cleaning up...`);
        void this.run().finally(() => process.exit(code));
      });
    }
  }
}
