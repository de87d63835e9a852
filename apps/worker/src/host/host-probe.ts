import type { UpdateStep } from '@lockstep/contracts';
import type { PrinterHost } from './printer-host';
import { RemoteCommandError } from './remote-command-error';
import { shellCommand, shellQuote } from './shell-quote';
import type { RemoteResult } from './ssh-session';

/** The probe as the worker ships it: one zipapp (libs/mcu/probe) and its SHA-256. */
export interface ProbeFile {
  name: string;
  bytes: Buffer;
  sha256: string;
}

export interface ProbeAnswer {
  code: number | null;
  /** The one JSON object the probe printed, or null when it printed none. */
  json: Record<string, unknown> | null;
  result: RemoteResult;
}

/**
 * `lockstep_probe` on the printer host (Python standard library only): Klipper's identify
 * protocol on serial and CAN, Moonraker's HTTP API, printer.cfg with its includes, and the
 * fenced journal write. Each call prints one JSON object.
 */
export class HostProbe {
  constructor(
    private readonly host: PrinterHost,
    private readonly file: ProbeFile,
  ) {}

  get path(): string {
    return `${this.host.lockstepDir}/bin/${this.file.name}`;
  }

  /** Uploads the probe unless the host already has this exact file. */
  async install(): Promise<void> {
    const path = shellQuote(this.path);
    const current = await this.host.run(`sha256sum ${path} 2>/dev/null | cut -c1-64`);
    if (current.stdout.trim() === this.file.sha256) return;
    const dir = shellQuote(this.path.slice(0, this.path.lastIndexOf('/')));
    await this.host.check(
      'connect',
      'installing the Lockstep probe',
      `mkdir -p ${dir} && t=$(mktemp ${shellQuote(`${this.path}.tmp.XXXXXX`)}) && ` +
        `{ base64 -d > "$t" && chmod 755 "$t" && mv -f "$t" ${path}; } || { rm -f "$t"; exit 1; }`,
      { stdin: this.file.bytes.toString('base64') },
    );
  }

  /** Runs the probe and returns whatever it answered, failure or not. */
  async ask(args: string[], options: { timeoutSeconds?: number; stdin?: string } = {}): Promise<ProbeAnswer> {
    const result = await this.host.run(shellCommand(['python3', this.path, ...args]), options);
    let json: Record<string, unknown> | null = null;
    try {
      const parsed = JSON.parse(result.stdout) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        json = parsed as Record<string, unknown>;
    } catch {
      json = null;
    }
    return { code: result.code, json, result };
  }

  /** Runs the probe; returns its JSON, or throws with the probe's own error message. */
  async run<T>(
    step: UpdateStep,
    args: string[],
    options: { mcu?: string; timeoutSeconds?: number; stdin?: string } = {},
  ): Promise<T> {
    const answer = await this.ask(args, options);
    if (answer.code !== 0 || answer.json === null || 'error' in answer.json) {
      throw new RemoteCommandError(step, `probe ${args[0]}`, answer.result, options.mcu);
    }
    return answer.json as T;
  }
}
