/** The bench's summary keys and their targets, as the table prints them. */
export interface Target {
  key: string;
  label: string;
  unit: string;
  /** True when the value meets the target. */
  meets: (value: number, summary: Record<string, unknown>) => boolean;
  target: string;
}

export const TARGETS: Target[] = [
  { key: 'lockstepMs', label: 'Lockstep rollout', unit: 'ms', meets: () => true, target: '' },
  { key: 'sequentialMs', label: 'sequential ssh loop', unit: 'ms', meets: () => true, target: '' },
  { key: 'ansibleMs', label: 'Ansible (forks 12)', unit: 'ms', meets: () => true, target: '' },
  { key: 'idealMs', label: 'ideal', unit: 'ms', meets: () => true, target: '' },
  {
    key: 'speedupVsSequential',
    label: 'speedup vs sequential',
    unit: 'x',
    meets: (v) => v >= 10,
    target: '≥ 10',
  },
  { key: 'ratioVsAnsible', label: 'Lockstep / Ansible', unit: '', meets: (v) => v <= 0.7, target: '≤ 0.7' },
  { key: 'ratioVsIdeal', label: 'Lockstep / ideal', unit: '', meets: (v) => v <= 1.15, target: '≤ 1.15' },
  {
    key: 'flashToolMsAlone',
    label: 'flash tools / printer, alone',
    unit: 'ms',
    meets: () => true,
    target: '',
  },
  { key: 'idealToolsMs', label: 'ideal, whole flash-tool runs', unit: 'ms', meets: () => true, target: '' },
  {
    key: 'ratioVsIdealTools',
    label: 'Lockstep / ideal, flash-tool runs',
    unit: '',
    meets: (v) => v <= 1.15,
    target: '≤ 1.15',
  },
  {
    key: 'buildsCentral',
    label: 'builds, built once',
    unit: '',
    meets: (v, s) => v === s['distinctProfiles'],
    target: '= distinct profiles',
  },
  { key: 'buildsPerPrinter', label: 'builds, per printer', unit: '', meets: () => true, target: '' },
  {
    key: 'overheadMsPerPrinter',
    label: 'orchestration / printer, alone',
    unit: 'ms',
    meets: (v) => v <= 150,
    target: '≤ 150',
  },
  {
    key: 'overheadMsUnderLoad',
    label: 'orchestration / printer, in the rollout',
    unit: 'ms',
    meets: () => true,
    target: '',
  },
  { key: 'lockstepCpuBusy', label: 'CPUs busy, Lockstep rollout', unit: '%', meets: () => true, target: '' },
  { key: 'ansibleCpuBusy', label: 'CPUs busy, Ansible', unit: '%', meets: () => true, target: '' },
  {
    key: 'apiCreate1000Ms',
    label: 'API: create, 1000 printers (p50)',
    unit: 'ms',
    meets: (v) => v <= 1000,
    target: '≤ 1000',
  },
  { key: 'apiStatusP95Ms', label: 'API: status p95', unit: 'ms', meets: (v) => v <= 50, target: '≤ 50' },
  { key: 'sseEventsPerSec', label: 'API: SSE events/s', unit: '/s', meets: () => true, target: '' },
  {
    key: 'workerRss100SessionsMb',
    label: 'worker peak RSS, 100 SSH sessions',
    unit: 'MB',
    meets: (v) => v <= 250,
    target: '≤ 250',
  },
  { key: 'scalePrinters', label: 'scale: printers updated', unit: '', meets: () => true, target: '' },
  { key: 'scaleRatioVsIdeal', label: 'scale: Lockstep / ideal', unit: '', meets: () => true, target: '' },
  {
    key: 'scaleRatioVsIdealTools',
    label: 'scale: Lockstep / ideal, flash-tool runs',
    unit: '',
    meets: () => true,
    target: '',
  },
];

function format(value: number, unit: string): string {
  if (unit === '%') return `${Math.round(value * 100)} %`;
  if (unit === 'ms') return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
  if (Number.isInteger(value)) return `${value}${unit === 'x' ? 'x' : unit ? ` ${unit}` : ''}`;
  return `${value.toFixed(2)}${unit === 'x' ? 'x' : unit ? ` ${unit}` : ''}`;
}

/** One line per key: value, target and ✓/✗, or why it is missing. */
export function summaryTable(summary: Record<string, unknown>, missing: Record<string, string>): string {
  const rows = TARGETS.map((t) => {
    const value = summary[t.key];
    if (typeof value !== 'number' || !Number.isFinite(value))
      return [t.label, '—', t.target, missing[t.key] ?? 'not measured'];
    const mark = t.target ? (t.meets(value, summary) ? '✓' : '✗') : '';
    return [t.label, format(value, t.unit), t.target, mark];
  });
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map(
      (r) =>
        `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padStart(widths[1]!)}  ${r[2]!.padEnd(widths[2]!)}  ${r[3]}`,
    )
    .join('\n');
}
