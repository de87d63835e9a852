import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import type { DiscoveryResult } from '@lockstep/contracts';
import type { Run } from '../command';
import type { Context } from '../context';
import { EXIT, usageError } from '../exit-codes';
import { count, list } from '../flags';
import { table } from '../output';
import type { HostView, PrinterView } from '../views';

const DISCOVERY_POLL_MS = 500;
const DISCOVERY_TIMEOUT_MS = 10 * 60_000;

interface DiscoveryView {
  jobId: string;
  state: 'running' | 'done' | 'failed';
  reason: string | null;
  proposal: DiscoveryResult | null;
  differences: string[];
}

/** A JSON file's object, or a usage error naming the file. */
export function readJsonObject(path: string, flag: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw usageError(
      `${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw usageError(`${flag}: ${path} is not JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw usageError(`${flag}: ${path} must hold one JSON object`);
  return parsed as Record<string, unknown>;
}

const path = (kind: string, id: string): string => `/${kind}/${encodeURIComponent(id)}`;

function hostsTable(hosts: HostView[]): string {
  return table(
    ['HOST', 'ADDRESS', 'PRINTERS', 'VERSION', 'HOST KEY', 'GROUPS'],
    hosts.map((h) => [
      h.build ? `${h.id} (build)` : h.id,
      `${h.user}@${h.address}:${h.port}`,
      h.printers.map((p) => p.id).join(',') || '-',
      [...new Set(h.printers.map((p) => p.version ?? '?'))].join(',') || '-',
      h.hostKeyState,
      h.groups.join(','),
    ]),
  );
}

function mcuTable(printers: PrinterView[]): string {
  return table(
    ['PRINTER', 'MCU', 'KIND', 'VERSION', 'ADDRESS', 'PROFILE'],
    printers.flatMap((p) =>
      p.mcus.map((m) => [
        p.id,
        m.name,
        m.kind,
        m.version,
        m.serial ?? m.canbusUuid,
        m.kconfigSha256.slice(0, 12),
      ]),
    ),
  );
}

function attention(printer: PrinterView): string[] {
  const needs = printer.needsAttention;
  if (!needs) return [];
  return [
    `${printer.id} needs attention: ${needs.reason ?? JSON.stringify(needs)}`,
    ...(needs.hint ? [`  what to do: ${needs.hint}`] : []),
  ];
}

function hostDetail(host: HostView): string {
  return [
    `host ${host.id}${host.build ? ' (build host)' : ''}: ${host.user}@${host.address}:${host.port}, machine ${host.machine ?? 'not yet known'}`,
    `host key: ${host.hostKeyState}${host.hostKeyFingerprint ? ` ${host.hostKeyFingerprint}` : ''}${host.hostKeyProblem ? ` (${host.hostKeyProblem})` : ''}`,
    ...(host.blockedReason ? [`blocked: ${host.blockedReason}`] : []),
    `groups: ${host.groups.join(', ') || '-'}; tags: ${host.tags.join(', ') || '-'}`,
    ...(host.printers.length > 0 ? ['', mcuTable(host.printers)] : []),
    ...host.printers.flatMap(attention),
  ].join('\n');
}

function discoveryText(host: string, view: DiscoveryView): string {
  if (view.state === 'failed') return `discovery of ${host} failed: ${view.reason ?? 'no reason given'}`;
  if (!view.proposal) return `discovery of ${host} is ${view.state}`;
  const p = view.proposal;
  const rows = p.instances.flatMap((instance) =>
    instance.mcus.map((m) => [
      instance.printerId,
      m.name,
      m.kind,
      m.serial ?? (m.canbusUuid ? `${m.canInterface ?? 'can'} ${m.canbusUuid}` : null),
      m.version,
      m.kconfig ? 'carried' : 'none',
      m.present === null ? '' : m.present ? 'yes' : 'NO',
    ]),
  );
  return [
    `discovery of ${host}: machine ${p.machine ?? '?'}, ${p.instances.length} Klipper instance${p.instances.length === 1 ? '' : 's'}`,
    table(['PRINTER', 'MCU', 'KIND', 'ADDRESS', 'VERSION', 'KCONFIG', 'PRESENT'], rows),
    ...p.instances.filter((i) => i.problem).map((i) => `${i.printerId}: ${i.problem}`),
    ...p.instances.flatMap((i) =>
      i.mcus.flatMap((m) =>
        ((m as { notes?: string[] }).notes ?? []).map((n) => `${i.printerId} ${m.name}: ${n}`),
      ),
    ),
    ...(p.unusedSerials.length > 0
      ? [`serial devices no printer.cfg names: ${p.unusedSerials.join(', ')}`]
      : []),
    view.differences.length > 0
      ? `differs from the inventory:\n${view.differences.map((d) => `  ${d}`).join('\n')}`
      : 'matches the inventory',
  ].join('\n');
}

export function hostsCommand(ctx: Context, run: Run): Command {
  const hosts = new Command('hosts').description('the printer hosts of the inventory');

  hosts
    .command('add')
    .description('enrol a host: a JSON file of its enrolment (POST /hosts), completed or overridden by flags')
    .option(
      '--file <host.json>',
      'the enrolment: id, address, user, hostKey, groups, instances with their MCUs',
    )
    .option('--id <id>', 'the host id')
    .option('--address <address>', 'its IP address or DNS name')
    .option('--port <port>', 'its SSH port', count('--port'))
    .option('--user <user>', 'the SSH user that owns ~/klipper')
    .option(
      '--host-key <key>',
      "its SSH host key line ('ssh-ed25519 AAAA...'); without one, trust on first use",
    )
    .option('--group <group>', 'a group (repeatable)', list)
    .option('--tag <tag>', 'a tag (repeatable)', list)
    .option('--build', 'a build host: the fleet firmware is built here once')
    .action(
      run(
        async (flags: {
          file?: string;
          id?: string;
          address?: string;
          port?: number;
          user?: string;
          hostKey?: string;
          group?: string[];
          tag?: string[];
          build?: boolean;
        }) => {
          const body = {
            ...(flags.file ? readJsonObject(flags.file, '--file') : {}),
            ...(flags.id ? { id: flags.id } : {}),
            ...(flags.address ? { address: flags.address } : {}),
            ...(flags.port !== undefined ? { port: flags.port } : {}),
            ...(flags.user ? { user: flags.user } : {}),
            ...(flags.hostKey ? { hostKey: flags.hostKey } : {}),
            ...(flags.group ? { groups: flags.group } : {}),
            ...(flags.tag ? { tags: flags.tag } : {}),
            ...(flags.build ? { build: true } : {}),
          };
          if (!('instances' in body) && flags.build) Object.assign(body, { instances: [] });
          const host = await ctx.api.post<HostView>('/hosts', body);
          ctx.out.result(host, (h) => `enrolled ${h.id}\n${hostDetail(h)}`);
          return EXIT.ok;
        },
      ),
    );

  hosts
    .command('list')
    .description('every host with its printers')
    .option('--group <group>', 'only this group')
    .option('--tag <tag>', 'only this tag')
    .action(
      run(async (flags: { group?: string; tag?: string }) => {
        const query = new URLSearchParams({
          ...(flags.group ? { group: flags.group } : {}),
          ...(flags.tag ? { tag: flags.tag } : {}),
        }).toString();
        ctx.out.result(await ctx.api.get<HostView[]>(`/hosts${query ? `?${query}` : ''}`), hostsTable);
        return EXIT.ok;
      }),
    );

  hosts
    .command('show')
    .description('a host: its key, its printers and every MCU')
    .argument('<id>')
    .action(
      run(async (id: string) => {
        ctx.out.result(await ctx.api.get<HostView>(path('hosts', id)), hostDetail);
        return EXIT.ok;
      }),
    );

  hosts
    .command('discover')
    .description(
      "read the host's printer.cfg, serial devices and MCUs (changes nothing) and propose its inventory",
    )
    .argument('<id>')
    .option('--wait', 'wait for the discovery and show what it found')
    .action(
      run(async (id: string, flags: { wait?: boolean }) => {
        const { jobId } = await ctx.api.post<{ jobId: string }>(`${path('hosts', id)}/discover`);
        if (!flags.wait) {
          ctx.out.result(
            { jobId },
            () => `discovery of ${id} queued (${jobId}); see it with fleetctl hosts discover ${id} --wait`,
          );
          return EXIT.ok;
        }
        const deadline = Date.now() + DISCOVERY_TIMEOUT_MS;
        for (;;) {
          const view = await ctx.api.get<DiscoveryView>(`${path('hosts', id)}/discovery`);
          if (view.jobId === jobId && view.state !== 'running') {
            ctx.out.result(view, (v) => discoveryText(id, v));
            return view.state === 'failed' ? EXIT.failed : EXIT.ok;
          }
          if (Date.now() > deadline) {
            ctx.out.error(
              `discovery of ${id} still runs after ${DISCOVERY_TIMEOUT_MS / 60_000} min (job ${jobId}): is a worker running?`,
            );
            return EXIT.failed;
          }
          await new Promise((resolve) => setTimeout(resolve, DISCOVERY_POLL_MS));
        }
      }),
    );

  hosts
    .command('remove')
    .description('remove a host and its printers from the inventory')
    .argument('<id>')
    .action(
      run(async (id: string) => {
        const answer = await ctx.api.request<unknown>('DELETE', path('hosts', id));
        ctx.out.result(answer ?? { removed: id }, () => `removed ${id}`);
        return EXIT.ok;
      }),
    );
  return hosts;
}

export function printersCommand(ctx: Context, run: Run): Command {
  const printers = new Command('printers').description('the printers (Klipper instances) of the inventory');
  printers
    .command('list')
    .description('every printer with its version and whether it needs attention')
    .action(
      run(async () => {
        const all = await ctx.api.get<PrinterView[]>('/printers');
        ctx.out.result(all, (list) =>
          table(
            ['PRINTER', 'HOST', 'VERSION', 'MCUS', 'ATTENTION'],
            list.map((p) => [
              p.id,
              p.hostId,
              p.version,
              p.mcus.map((m) => `${m.name}@${m.version ?? '?'}`).join(' '),
              p.needsAttention ? (p.needsAttention.reason ?? 'yes').split('\n')[0]!.slice(0, 80) : '',
            ]),
          ),
        );
        return EXIT.ok;
      }),
    );
  printers
    .command('show')
    .description('a printer: every MCU with its version, and why it needs attention')
    .argument('<id>')
    .action(
      run(async (id: string) => {
        const printer = await ctx.api.get<PrinterView>(path('printers', id));
        ctx.out.result(printer, (p) =>
          [
            `printer ${p.id} on host ${p.hostId} (${p.service}): Klipper ${p.version ?? '?'}`,
            mcuTable([p]),
            ...attention(p),
          ].join('\n'),
        );
        return EXIT.ok;
      }),
    );
  return printers;
}

interface ProfileView {
  kconfigSha256: string;
  architecture: string;
  mcu: string;
  interface: string | null;
  canBitrate: number | null;
  usedBy: string[];
  kconfig?: string;
}

export function profilesCommand(ctx: Context, run: Run): Command {
  const profiles = new Command('profiles').description("MCU profiles: the boards' Kconfigs");
  profiles
    .command('show')
    .description('every profile, or one with its Kconfig text')
    .argument('[sha]', 'a profile (its SHA-256)')
    .action(
      run(async (sha?: string) => {
        if (sha) {
          const one = await ctx.api.get<ProfileView>(path('profiles', sha));
          ctx.out.result(
            one,
            (p) =>
              `profile ${p.kconfigSha256}: ${p.mcu} (${p.architecture}), used by ${p.usedBy.join(', ') || 'nothing'}\n\n${p.kconfig ?? ''}`,
          );
          return EXIT.ok;
        }
        const all = await ctx.api.get<ProfileView[]>('/profiles');
        ctx.out.result(all, (list) =>
          table(
            ['PROFILE', 'ARCH', 'MCU', 'INTERFACE', 'USED BY'],
            list.map((p) => [
              p.kconfigSha256.slice(0, 12),
              p.architecture,
              p.mcu,
              p.interface ? `${p.interface}${p.canBitrate ? ` ${p.canBitrate}` : ''}` : null,
              p.usedBy.join(' '),
            ]),
          ),
        );
        return EXIT.ok;
      }),
    );
  profiles
    .command('set')
    .description("give one MCU another Kconfig (a board's .config, or savedefconfig text)")
    .argument('<printer>')
    .argument('<mcu>', "the MCU's printer.cfg name: mcu for [mcu], NAME for [mcu NAME]")
    .requiredOption('--kconfig <file>', 'the Kconfig file')
    .action(
      run(async (printer: string, mcu: string, flags: { kconfig: string }) => {
        let kconfig: string;
        try {
          kconfig = readFileSync(flags.kconfig, 'utf8');
        } catch (error) {
          throw usageError(
            `--kconfig: cannot read ${flags.kconfig} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
          );
        }
        const answer = await ctx.api.request<unknown>(
          'PUT',
          `${path('printers', printer)}/mcus/${encodeURIComponent(mcu)}/profile`,
          { kconfig },
        );
        ctx.out.result(answer, () => `${printer} ${mcu}: profile set from ${flags.kconfig}`);
        return EXIT.ok;
      }),
    );
  return profiles;
}

export function tokensCommand(ctx: Context, run: Run): Command {
  const tokens = new Command('tokens').description('API tokens (admin)');
  tokens
    .command('create')
    .description('make a token; it is shown once')
    .requiredOption('--name <name>', 'who or what uses it')
    .requiredOption('--role <role>', 'admin, operator, ci or viewer')
    .action(
      run(async (flags: { name: string; role: string }) => {
        const made = await ctx.api.post<{ id: string; token: string; role: string }>('/tokens', {
          name: flags.name,
          role: flags.role,
        });
        ctx.out.result(made, (t) => t.token);
        return EXIT.ok;
      }),
    );
  tokens
    .command('list')
    .description('every token, without its secret')
    .action(
      run(async () => {
        const all =
          await ctx.api.get<
            { id: string; name: string; role: string; createdAt: string; revokedAt?: string | null }[]
          >('/tokens');
        ctx.out.result(all, (list) =>
          table(
            ['ID', 'NAME', 'ROLE', 'CREATED', 'REVOKED'],
            list.map((t) => [t.id, t.name, t.role, t.createdAt, t.revokedAt]),
          ),
        );
        return EXIT.ok;
      }),
    );
  return tokens;
}
