import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Farm, type FarmHost } from '@lockstep/farm';
import type { HostView } from '../../apps/api/src/hosts/hosts.repository';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import { hostInstances, hostKeyLine, REDIS_URL, WorkerProcess } from '../e2e/harness';
import { BACKENDS, call, startTestApi, type TestApi } from './api-harness';

/** A simulated host as an operator enrols it, under `id`, its printers' ids suffixed with it. */
function enrolment(host: FarmHost, id: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    address: host.address,
    user: host.sshUser,
    instances: hostInstances(host).map((i) => ({ ...i, printerId: `${i.printerId}-${id}` })),
    ...extra,
  };
}

/** A key the farm host does not have, and the fingerprint ssh-keygen prints for it. */
function otherKey(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    return readFileSync(join(dir, 'k.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fingerprint `ssh-keygen -l` prints for a public key file. */
function fingerprintOf(file: string): string {
  return execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).split(' ')[1]!;
}

function fingerprintOfLine(line: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-key-'));
  try {
    execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', line, join(dir, 'k.pub')]);
    return fingerprintOf(join(dir, 'k.pub'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const lastSeq = (host: FarmHost): number => host.audit().at(-1)?.seq ?? 0;

describe('host keys through the API, read by a real worker on the simulated farm', () => {
  let farm: Farm;
  let host: FarmHost;
  let worker: WorkerProcess;
  let origin: string;
  const prefix = `lockstep-e2e-host-keys-${process.pid}`;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'minimal' });
    host = farm.hosts[0]!;
    worker = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath });
    await worker.waitForLog(/worker started/);
    // The fleet's Klipper origin as the API's user owns it (the farm's belongs to the printers' user).
    origin = mkdtempSync(join(tmpdir(), 'lockstep-origin-'));
    const owner = statSync(farm.record.upstream);
    chownSync(origin, owner.uid, owner.gid);
    execFileSync('git', ['clone', '-q', '--bare', farm.record.upstream, join(origin, 'klipper.git')], {
      uid: owner.uid,
      gid: owner.gid,
      env: { PATH: process.env.PATH, HOME: origin },
    });
    execFileSync('chown', ['-R', `${process.getuid!()}:${process.getgid!()}`, origin]);
  });
  afterAll(async () => {
    await worker?.kill();
    await farm?.down();
    if (origin) rmSync(origin, { recursive: true, force: true });
  });

  describe.each(BACKENDS)('on %s', (backend) => {
    let api: TestApi;
    const getHost = (id: string) => call<HostView>(api, 'GET', `/hosts/${id}`, { token: api.admin });
    const settled = (id: string) =>
      until(
        async () => (await call<RolloutView>(api, 'GET', `/rollouts/${id}`, { token: api.admin })).body,
        (r) => r.state !== 'running',
        `rollout ${id} to end`,
        120_000,
      );

    beforeAll(async () => {
      api = await startTestApi(backend, {
        REDIS_URL,
        LOCKSTEP_QUEUE_PREFIX: prefix,
        LOCKSTEP_KLIPPER_ORIGIN: join(origin, 'klipper.git'),
      });
    });
    afterAll(async () => {
      await api?.destroy();
    });

    it('trusts on first use: a host enrolled without a key gets the key it really has, read by the worker', async () => {
      const since = lastSeq(host);
      const enrolled = await call<HostView>(api, 'POST', '/hosts', {
        token: api.admin,
        body: enrolment(host, 'tofu'),
      });
      expect(enrolled.status).toBe(201);
      expect(enrolled.body).toMatchObject({ hostKey: null, hostKeyFingerprint: null, blockedReason: null });
      // Pending until the worker's read ends; it may have ended already.
      expect(['pending', 'pinned']).toContain(enrolled.body.hostKeyState);

      const pinned = await until(
        async () => (await getHost('tofu')).body,
        (h) => h.hostKeyState !== 'pending',
        'the first key read to end',
      );
      // The key the farm gave the host (its own key file), and the fingerprint ssh-keygen prints for it.
      expect(pinned).toMatchObject({
        hostKeyState: 'pinned',
        hostKey: hostKeyLine(host),
        hostKeyFingerprint: fingerprintOf(join(host.record.hostDir, 'ssh_host_ed25519_key.pub')),
        hostKeyProblem: null,
        blockedReason: null,
      });
      const audit = await call<
        { actor: string; action: string; subject: string; detail: Record<string, unknown> }[]
      >(api, 'GET', '/audit', { token: api.admin });
      expect(audit.body.find((e) => e.action === 'host.key.pin' && e.subject === 'tofu')).toMatchObject({
        actor: expect.stringMatching(/\(test admin\)$/),
        detail: { fingerprint: pinned.hostKeyFingerprint, trustOnFirstUse: true },
      });
      // Reading the key ran nothing on the host.
      expect(host.audit().filter((e) => e.seq > since && e.event === 'command')).toEqual([]);
    });

    it('a host the worker cannot reach shows why its key is not pinned, and no job is sent to it', async () => {
      const port = await closedPort();
      const enrolled = await call<HostView>(api, 'POST', '/hosts', {
        token: api.admin,
        body: enrolment(host, 'gone', { address: '127.0.0.1', port, groups: ['gone'] }),
      });
      expect(enrolled.status).toBe(201);
      const failed = await until(
        async () => (await getHost('gone')).body,
        (h) => h.hostKeyState !== 'pending',
        'the first key read to fail',
      );
      expect(failed).toMatchObject({ hostKeyState: 'failed', hostKey: null });
      expect(failed.hostKeyProblem).toMatch(
        new RegExp(`^cannot reach pi@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
      );
      const rollout = await call<{ message: string }>(api, 'POST', '/rollouts', {
        token: api.admin,
        body: { to: 'v0.13.0', selection: { groups: ['gone'] } },
      });
      expect(rollout.status).toBe(400);
      expect(rollout.body.message).toContain('host gone has no pinned host key');
      const discover = await call<{ message: string }>(api, 'POST', '/hosts/gone/discover', {
        token: api.admin,
      });
      expect(discover.status).toBe(409);
      expect(discover.body.message).toMatch(
        /^host gone has no pinned host key: reading it failed \(cannot reach /,
      );
    });

    it('a wrong key: the update job is refused, the host blocked naming both keys, rollouts refuse it; a fetched re-pin clears it', async () => {
      const wrong = otherKey();
      const real = hostKeyLine(host);
      const printerId = `${hostInstances(host)[0]!.printerId}-wrong`;
      const enrolled = await call<HostView>(api, 'POST', '/hosts', {
        token: api.admin,
        body: enrolment(host, 'wrong', { hostKey: wrong, groups: ['wrong'] }),
      });
      expect(enrolled.body).toMatchObject({ hostKeyState: 'pinned', hostKey: wrong });

      const since = lastSeq(host);
      const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
        token: api.admin,
        body: { to: 'v0.13.0', selection: { groups: ['wrong'] }, strategy: { canary: 0, maxFailures: 1 } },
      });
      expect(created.status).toBe(201);
      const rollout = await settled(created.body.rollout.id);
      expect(rollout).toMatchObject({ state: 'failed', hosts: [{ hostId: 'wrong', state: 'failed' }] });
      expect((rollout.hosts[0]!.result as { reason: string }).reason).toMatch(
        new RegExp(`^host key of pi@${host.address.replace(/\./g, '\\.')}:22 does not match the pinned key`),
      );

      // Blocked at once; then the block names the key the host offers, read by the worker.
      const blocked = await until(
        async () => (await getHost('wrong')).body,
        (h) => h.blockedReason !== null && !h.blockedReason.includes('is being read'),
        'the block to name the offered key',
      );
      const [wrongPrint, realPrint] = [fingerprintOfLine(wrong), fingerprintOfLine(real)];
      expect(blocked.hostKeyState).toBe('blocked');
      expect(blocked.hostKey).toBe(wrong);
      expect(blocked.blockedReason).toBe(
        `host key changed: pi@${host.address}:22 offers ${realPrint}, the pinned key is ${wrongPrint}. ` +
          `If the host was reinstalled, compare ${realPrint} with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on the host itself, ` +
          'then re-pin it (admin): POST /hosts/wrong/host-key with {"fetch": true}, or {"hostKey": "<its key line>"}; ' +
          `otherwise another machine answers at ${host.address}: find out why first. No job reaches the host until then.`,
      );
      // Nothing ran on the host: the worker refused its key before logging in.
      expect(host.audit().filter((e) => e.seq > since && ['command', 'service'].includes(e.event))).toEqual(
        [],
      );

      const again = await call<{ message: string }>(api, 'POST', '/rollouts', {
        token: api.admin,
        body: { to: 'v0.13.0', selection: { groups: ['wrong'] } },
      });
      expect(again.status).toBe(400);
      expect(again.body.message).toBe(`host wrong is blocked: ${blocked.blockedReason}`);
      const rollback = await call<{ message: string }>(api, 'POST', `/printers/${printerId}/rollback`, {
        token: api.admin,
        body: {},
      });
      expect(rollback.status).toBe(400);
      expect(rollback.body.message).toMatch(/^host wrong is blocked: host key changed/);
      const operator = await api.token('operator');
      const discover = await call<{ message: string }>(api, 'POST', '/hosts/wrong/discover', {
        token: operator,
      });
      expect(discover).toMatchObject({
        status: 409,
        body: { message: `host wrong is blocked: ${blocked.blockedReason}` },
      });

      // Only an admin re-pins, with exactly one of a key or fetch.
      expect(
        (await call(api, 'POST', '/hosts/wrong/host-key', { token: operator, body: { fetch: true } })).status,
      ).toBe(403);
      for (const [body, message] of [
        [{}, '(root): give either hostKey (the key line to pin) or fetch: true'],
        [{ hostKey: real, fetch: true }, '(root): give either hostKey'],
        [{ fetch: false }, 'fetch: true: read the key the host offers now and pin it'],
        [{ hostKey: 'not a key' }, 'hostKey: an OpenSSH public key line'],
        [{ fetch: true, pin: 'now' }, 'pin: unknown field'],
      ] as const) {
        const refused = await call<{ message: string }>(api, 'POST', '/hosts/wrong/host-key', {
          token: api.admin,
          body,
        });
        expect(refused.status).toBe(400);
        expect(refused.body.message).toContain(message);
      }
      expect(
        (await call(api, 'POST', '/hosts/nobody/host-key', { token: api.admin, body: { fetch: true } }))
          .status,
      ).toBe(404);

      const fetched = await call<{ jobId: string; host: HostView }>(api, 'POST', '/hosts/wrong/host-key', {
        token: api.admin,
        body: { fetch: true },
      });
      expect(fetched.status).toBe(202);
      expect(fetched.body.jobId).toMatch(/^host-key\.wrong\./);
      expect(fetched.body.host.hostKeyState).toBe('blocked');
      const repinned = await until(
        async () => (await getHost('wrong')).body,
        (h) => h.hostKeyState !== 'blocked',
        'the fetched key to be pinned',
      );
      expect(repinned).toMatchObject({ hostKeyState: 'pinned', hostKey: real, blockedReason: null });
      const audit = (
        await call<{ actor: string; action: string; subject: string; detail: Record<string, unknown> }[]>(
          api,
          'GET',
          '/audit',
          { token: api.admin },
        )
      ).body.filter((e) => e.subject === 'wrong');
      expect(audit.map((e) => e.action).reverse()).toEqual([
        'host.enrol',
        'host.block',
        'host.key.fetch',
        'host.key.pin',
      ]);
      expect(audit.find((e) => e.action === 'host.block')!.actor).toBe('lockstep (host key check)');
      expect(audit.find((e) => e.action === 'host.key.pin')).toMatchObject({
        actor: expect.stringMatching(/\(test admin\)$/),
        detail: { fingerprint: realPrint, fetched: true, unblocked: true, jobId: fetched.body.jobId },
      });

      // A job reaches the host again with the re-pinned key: the rollback runs there, and fails
      // only because the printer has no earlier version, not over its key.
      const before = lastSeq(host);
      const rolledBack = await call<RolloutView>(api, 'POST', `/printers/${printerId}/rollback`, {
        token: api.admin,
        body: {},
      });
      expect(rolledBack.status).toBe(201);
      const ended = await settled(rolledBack.body.id);
      expect((ended.hosts[0]!.result as { reason: string }).reason).toMatch(
        /^target\.version: no earlier version/,
      );
      expect(host.audit().some((e) => e.seq > before && e.event === 'command')).toBe(true);
      expect((await getHost('wrong')).body).toMatchObject({ hostKeyState: 'pinned', blockedReason: null });
    });

    it("pins an admin's key at once", async () => {
      const wrong = otherKey();
      const pinned = await call<HostView>(api, 'POST', '/hosts/tofu/host-key', {
        token: api.admin,
        body: { hostKey: wrong },
      });
      expect(pinned).toMatchObject({
        status: 200,
        body: {
          id: 'tofu',
          hostKeyState: 'pinned',
          hostKey: wrong,
          hostKeyFingerprint: fingerprintOfLine(wrong),
        },
      });
      const audit = await call<{ action: string; subject: string; detail: Record<string, unknown> }[]>(
        api,
        'GET',
        '/audit',
        { token: api.admin },
      );
      expect(audit.body.find((e) => e.subject === 'tofu')).toMatchObject({
        action: 'host.key.pin',
        detail: { fingerprint: fingerprintOfLine(wrong), unblocked: false },
      });
    });
  });
});
