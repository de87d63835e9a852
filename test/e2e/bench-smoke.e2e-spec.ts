import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIS_URL, REPO_ROOT } from './harness';

jest.setTimeout(420_000);

describe('npm run bench, on two printers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-smoke-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('compares Lockstep with the sequential loop, Ansible and the ideal, counts builds, and verifies every variant on the hosts', async () => {
    const out = join(dir, 'results.json');
    const args = ['--out', out, '--printers', '2', '--concurrency', '2', '--scale-printers', '0'];
    args.push('--time-scale', '0.01', '--only', 'rollout,overhead,builds');
    const child = spawn(process.execPath, ['-r', './tools/register.js', 'bench/run.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`the bench exited ${code}:\n${output.split('\n').slice(-80).join('\n')}`);

    const results = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
    expect(results).toMatchObject({
      timeScale: 0.01,
      printers: 2,
      concurrency: 2,
      verified: true,
      failures: [],
    });
    for (const key of [
      'lockstepMs',
      'sequentialMs',
      'ansibleMs',
      'idealMs',
      'speedupVsSequential',
      'ratioVsAnsible',
      'ratioVsIdeal',
      'buildsCentral',
      'buildsPerPrinter',
      'overheadMsPerPrinter',
      'overheadMsUnderLoad',
      'lockstepCpuBusy',
      'flashToolMsAlone',
      'idealToolsMs',
      'ratioVsIdealTools',
    ])
      expect(typeof results[key]).toBe('number');
    // The fleet of the builds section has three board Kconfigs; the build host builds each once.
    expect(results['distinctProfiles']).toBe(3);
    expect(results['buildsCentral']).toBe(3);
    expect(results['buildsPerPrinter']).toBeGreaterThanOrEqual(8);
    const raw = results['raw'] as Record<string, { verified: boolean; perHost?: { verified: boolean }[] }>;
    for (const variant of ['lockstep', 'sequential', 'ansible', 'overhead'])
      expect(raw[variant]!.verified).toBe(true);
    expect(raw['sequential']!.perHost).toHaveLength(2);
    // Each printer's flash tools, read from its audit, hold the writing of its boards and more.
    const alone = (raw['overhead'] as unknown as { printers: { flashMs: number; flashToolMs: number }[] })
      .printers;
    for (const printer of alone) expect(printer.flashToolMs).toBeGreaterThan(printer.flashMs);
    expect(results['flashToolMsAlone']).toBe(Math.max(...alone.map((p) => p.flashToolMs)));
    expect(output).toMatch(/^ {2}speedup vs sequential +\S+x +≥ 10 +[✓✗]$/m);
    expect(output).toMatch(/^ {2}builds, built once +3 += distinct profiles +✓$/m);
    expect(output).toContain('all variants verified on the simulated hardware');
  });
});
