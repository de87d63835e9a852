import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REDIS_URL } from './harness';

jest.setTimeout(420_000);

const REPO_ROOT = join(__dirname, '..', '..');

function hasRedisServer(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('npm run demo, the main job', () => {
  it('updates the farm through the API and fleetctl, holds the faulty printer, rolls one back, and says so last', async () => {
    // As on a fresh machine: no REDIS_URL, so the demo starts its own redis-server (the machine's
    // Redis where the binary is missing).
    const { REDIS_URL: _unset, ...env } = process.env;
    const redis = hasRedisServer() ? {} : { REDIS_URL };
    const child = spawn(process.execPath, ['-r', './tools/register.js', 'test/farm/demo.ts'], {
      cwd: REPO_ROOT,
      env: { ...env, ...redis },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    const lines = output.trimEnd().split('\n');
    if (code !== 0) throw new Error(`the demo exited ${code}:\n${lines.slice(-80).join('\n')}`);
    expect(lines.at(-1)).toMatch(/^demo ok: 5\/6 printers at v0\.13\.0, 1 held, rollback of \S+ ok$/);
    expect(output).toContain('Where the time went:');
    // fleetctl's own output reached the viewer: the plan, live progress and the version table.
    expect(output).toMatch(/^HOST +BATCH +PRINTER +MCU +METHOD +PROFILE +ACTION/m);
    expect(output).toMatch(/^PRINTER +HOST RESULT +MCU +KIND +VERSION +AT v0\.13\.0/m);
    expect(output).toMatch(/needs attention: /);
  });
});
