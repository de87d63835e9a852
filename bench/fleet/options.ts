import type { HostCpu } from '@lockstep/farm';

export const SECTIONS = ['rollout', 'builds', 'overhead', 'api', 'rss', 'scale'] as const;
export type Section = (typeof SECTIONS)[number];
const HOST_CPU: readonly HostCpu[] = ['shared', 'idle', 'mcus-first'];

export interface BenchOptions {
  out: string | null;
  printers: number;
  concurrency: number;
  scalePrinters: number;
  scaleConcurrency: number;
  timeScale: number;
  /** How the simulated hosts are scheduled on this machine's CPUs (the farm option hostCpu). */
  hostCpu: HostCpu;
  only: Set<Section>;
}

export const USAGE = [
  'npm run bench -- [--out FILE] [--printers N] [--concurrency N] [--scale-printers N]',
  '                 [--time-scale F] [--host-cpu shared|idle|mcus-first] [--only rollout,builds,overhead,api,rss,scale]',
].join('\n');

function whole(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name}: expected a whole number from ${min} to ${max}, got ${value}`);
  return n;
}

/** The bench's flags, checked once. */
export function parseOptions(argv: readonly string[]): BenchOptions {
  const options: BenchOptions = {
    out: null,
    printers: 24,
    concurrency: 12,
    scalePrinters: 96,
    scaleConcurrency: 24,
    timeScale: 0.1,
    hostCpu: 'mcus-first',
    only: new Set(SECTIONS),
  };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!;
    const value = argv[i + 1];
    if (!name.startsWith('--')) throw new Error(`unexpected argument ${name}\n${USAGE}`);
    if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value\n${USAGE}`);
    i++;
    switch (name) {
      case '--out':
        options.out = value;
        break;
      case '--printers':
        options.printers = whole('printers', value, 1, 200);
        break;
      case '--concurrency':
        options.concurrency = whole('concurrency', value, 1, 64);
        break;
      case '--scale-printers':
        options.scalePrinters = whole('scale-printers', value, 0, 239);
        break;
      case '--time-scale': {
        const f = Number(value);
        if (!(f > 0 && f <= 1)) throw new Error(`--time-scale: expected 0 < F <= 1, got ${value}`);
        options.timeScale = f;
        break;
      }
      case '--host-cpu':
        if (!(HOST_CPU as readonly string[]).includes(value))
          throw new Error(`--host-cpu: expected ${HOST_CPU.join(', ')}; got ${value}`);
        options.hostCpu = value as HostCpu;
        break;
      case '--only': {
        const names = value.split(',').filter(Boolean);
        const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
        if (unknown.length > 0 || names.length === 0)
          throw new Error(`--only: sections are ${SECTIONS.join(', ')}; not ${unknown.join(', ') || value}`);
        options.only = new Set(names as Section[]);
        break;
      }
      default:
        throw new Error(`unknown flag ${name}\n${USAGE}`);
    }
  }
  if (options.scalePrinters === 0) options.only.delete('scale');
  return options;
}
