/** Rows as aligned columns under a header; cells are single-line text. */
export function table(header: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    header,
    ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '-' : String(cell)))),
  ];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Where a command writes: JSON for machines with `--json`, text for people otherwise. */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
    private readonly stderr: NodeJS.WritableStream = process.stderr,
  ) {}

  /** The command's result: as JSON with `--json`, else as the text `human` makes of it. */
  result<T>(value: T, human: (value: T) => string): void {
    this.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human(value)}\n`);
  }

  /** A line for people (progress, notes): on stdout, or on stderr with `--json` so stdout stays JSON. */
  note(text: string): void {
    (this.json ? this.stderr : this.stdout).write(`${text}\n`);
  }

  error(text: string): void {
    this.stderr.write(`fleetctl: ${text}\n`);
  }
}
