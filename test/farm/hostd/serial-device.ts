import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { HOST_PATHS } from '../spec';

/**
 * One serial device of an emulated MCU: a pty (made by pty_relay.py, since Node cannot open a
 * pty pair) whose slave is linked at the given paths. The emulated MCU reads what programs write
 * to the device through `onData` and answers with `write`.
 */
export class SerialDevice {
  private child?: ChildProcess;
  private ttyName?: string;

  constructor(
    readonly links: string[],
    private readonly onData: (chunk: Buffer) => void,
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
      let text = '';
      const ready = child.stdio[3] as Readable;
      ready.setEncoding('utf8');
      ready.on('data', (chunk: string) => {
        text += chunk;
        if (text.endsWith('\n')) resolve(text.trim());
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
