import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { HOST_PATHS } from '../spec';

/**
 * One serial device of an emulated MCU: a pty (made by pty_relay.py, since Node cannot open a
 * pty pair) whose slave is linked at the given paths. The emulated MCU reads what programs write
 * to the device through `onData` and answers with `write`; `onBaud` hears each new speed a
 * program sets on the device (USB CDC's SET_LINE_CODING).
 */
export class SerialDevice {
  private child?: ChildProcess;
  private ttyName?: string;

  constructor(
    readonly links: string[],
    private readonly onData: (chunk: Buffer) => void,
    private readonly onBaud: (baud: number) => void = () => undefined,
  ) {}

  get tty(): string | undefined {
    return this.ttyName;
  }

  async open(): Promise<string> {
    const child = spawn(
      '/usr/bin/python3',
      [join(HOST_PATHS.simRun, 'tools', 'pty_relay.py'), ...this.links],
      {
        stdio: ['pipe', 'pipe', 'inherit', 'pipe'],
      },
    );
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => this.onData(chunk));
    child.stdin!.on('error', () => undefined);
    const name = await new Promise<string>((resolve, reject) => {
      // fd 3: the slave's name, then one `baud N` line per speed change.
      let text = '';
      let named = false;
      const events = child.stdio[3] as Readable;
      events.setEncoding('utf8');
      events.on('data', (chunk: string) => {
        text += chunk;
        let newline: number;
        while ((newline = text.indexOf('\n')) >= 0) {
          const line = text.slice(0, newline).trim();
          text = text.slice(newline + 1);
          if (!named) {
            named = true;
            resolve(line);
          } else if (/^baud -?\d+$/.test(line)) {
            this.onBaud(Number(line.slice(5)));
          }
        }
      });
      child.once('exit', (code) =>
        reject(new Error(`pty relay for ${this.links.join(', ')} exited (${code})`)),
      );
    });
    this.ttyName = name;
    return name;
  }

  write(bytes: Uint8Array): void {
    this.child?.stdin?.write(bytes);
  }

  /** Removes the device: its links go away and programs that hold it open see a hangup. */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
