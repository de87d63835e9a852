import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { McuChannel } from '../identify-client';
import { HOST_PATHS } from '../spec';

/**
 * A serial device opened by a process of the printer user (serial_holder.py), the way klippy
 * holds its MCUs' devices: other programs see the device in use in /proc/<pid>/fd.
 */
export class HeldSerialChannel implements McuChannel {
  private constructor(private readonly child: ChildProcess) {
    child.stdin!.on('error', () => undefined);
  }

  static open(path: string, user: { uid: number; gid: number }): Promise<HeldSerialChannel> {
    // setpriv keeps the user's groups (dialout gives access to serial devices); spawn's uid/gid would drop them.
    const child = spawn(
      'setpriv',
      [
        `--reuid=${user.uid}`,
        `--regid=${user.gid}`,
        '--init-groups',
        '/usr/bin/python3',
        join(HOST_PATHS.simRun, 'tools', 'serial_holder.py'),
        path,
      ],
      { stdio: ['pipe', 'pipe', 'ignore', 'pipe'] },
    );
    return new Promise((resolve, reject) => {
      const ready = child.stdio[3] as Readable;
      ready.once('data', () => resolve(new HeldSerialChannel(child)));
      child.once('exit', () => reject(new Error(`Unable to open serial port ${path}`)));
      child.once('error', reject);
    });
  }

  write(bytes: Uint8Array): void {
    this.child.stdin?.write(bytes);
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.child.stdout!.on('data', listener);
    return () => this.child.stdout!.off('data', listener);
  }

  close(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
