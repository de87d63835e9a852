/** Where the demo's time went: each phase's wall time, in the order they ran. */
export class Phases {
  private readonly began = Date.now();
  private readonly done: { name: string; ms: number }[] = [];

  /** Runs one phase and records its time, also when it fails. */
  async time<T>(name: string, phase: () => Promise<T>): Promise<T> {
    const start = Date.now();
    try {
      return await phase();
    } finally {
      this.done.push({ name, ms: Date.now() - start });
    }
  }

  table(): string {
    const width = Math.max(5, ...this.done.map((p) => p.name.length));
    const row = (name: string, ms: number): string =>
      `  ${name.padEnd(width)}  ${(ms / 1000).toFixed(1).padStart(6)} s`;
    return [
      ...this.done.map((p) => row(p.name, p.ms)),
      `  ${'-'.repeat(width + 10)}`,
      row('total', Date.now() - this.began),
    ].join('\n');
  }
}
