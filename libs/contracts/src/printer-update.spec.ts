import {
  assertSafeVersion,
  FieldError,
  McuInventoryError,
  validateGitRef,
  validateMcuInventory,
  type McuInventoryEntry,
} from '@lockstep/mcu';
import { bridgeInventory, voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { F446_USB_KATAPULT } from '@lockstep/mcu/src/domain/fixtures/kconfigs';
import {
  hostileCases,
  jobIssues,
  SHA1_COMMIT,
  SHA256_COMMIT,
  validJobInput,
  type HostileCase,
} from './fixtures/printer-update-jobs';
import {
  parsePrinterUpdateJob,
  parsePrinterUpdateResult,
  printerUpdateJobData,
  printerUpdateJobId,
  UPDATE_STEPS,
} from './index';

const valid = validJobInput();

/** What a domain validator said, in the same `field: message` form; empty if it accepted. */
function domainIssues(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof McuInventoryError) return error.issues.map((i) => `${i.field}: ${i.message}`);
    if (error instanceof FieldError) return [error.message];
    throw error;
  }
  return [];
}

/** An issue about exactly this field: `mcus.1.serial: ...`. */
const fieldIssue = (field: string): RegExp =>
  new RegExp(`^${field.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `);

const show = (value: unknown): string => {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};
const corpus = hostileCases().map((c): [string, string, HostileCase] => [c.field, show(c.value), c]);

describe('printer-update job schema', () => {
  it('accepts a valid job and fills the defaults', () => {
    const job = parsePrinterUpdateJob(valid);
    expect(job.host.port).toBe(22);
    expect(job.paths.klipper).toBe('~/klipper');
    expect(job.paths.python).toBe('~/klippy-env/bin/python');
    expect(job.can).toEqual({});
    expect(job.policy).toMatchObject({ onFailure: 'hold', maxFlashAttempts: 2, keepVersions: 3 });
    expect(job.deadlines.flashSeconds).toBe(300);
  });

  it.each([
    ['printerId', { printerId: 'a b' }, /printerId/],
    ['host.address', { host: { ...(valid.host as object), address: '-oProxyCommand=x' } }, /host\.address/],
    ['host.hostKey', { host: { ...(valid.host as object), hostKey: 'AAAA' } }, /host\.hostKey/],
    ['host.user', { host: { ...(valid.host as object), user: 'root;id' } }, /host\.user/],
    ['an unknown field', { secretKey: 'x' }, /secretKey|Unrecognized/],
    [
      'an unknown MCU field',
      { mcus: [{ ...voronInventory()[3]!, secret: 1 }] },
      /mcus\.0\.secret: unknown field/,
    ],
    ['an empty inventory', { mcus: [] }, /mcus: at least one MCU is required/],
  ])('rejects %s, naming the field', (_name, change, message) => {
    expect(() => parsePrinterUpdateJob({ ...valid, ...change })).toThrow(message);
  });

  it('names an MCU field in the dotted style, with the domain message', () => {
    const mcus = voronInventory();
    mcus[1] = { ...mcus[1]!, kconfig: 'CONFIG_MCU="stm32f446xx"\nCONFIG_USBSERIAL=y\nCONFIG_X=`id`\n' };
    expect(() => parsePrinterUpdateJob({ ...valid, mcus })).toThrow(
      /^invalid printer-update job: mcus\.1\.kconfig: \[mcu\] line 3: CONFIG_X: value "`id`"/,
    );
  });

  it('reports every bad field at once', () => {
    const mcus = voronInventory();
    mcus[0] = { ...mcus[0]!, canbusUuid: 'zz' };
    mcus[2] = { ...mcus[2]!, serial: '/dev/-x' };
    expect(
      jobIssues({
        ...valid,
        mcus,
        target: {},
        paths: { klipper: '-h' },
        host: { ...(valid.host as object), user: '' },
      }),
    ).toEqual([
      expect.stringMatching(/^host\.user: /),
      expect.stringMatching(/^paths\.klipper: /),
      expect.stringMatching(/^mcus\.0\.canbusUuid: /),
      expect.stringMatching(/^mcus\.2\.serial: /),
      expect.stringMatching(/^target\.ref: required for mode 'update'/),
    ]);
  });

  it('builds one job id per printer and request', () => {
    expect(printerUpdateJobId('f1-printer-01', 'r1')).toBe('printer-update.f1-printer-01.r1');
  });
});

describe('firmware: built on the printer, or prebuilt on a build host', () => {
  const HASH = 'ab'.repeat(32);
  const SUM = 'cd'.repeat(32);
  const prebuilt = (build: Record<string, unknown>, more: Record<string, unknown>[] = []) => ({
    ...valid,
    firmware: {
      source: 'artifacts',
      builds: [{ version: 'v0.13.0', kconfigHash: HASH, files: { 'klipper.bin': SUM }, ...build }, ...more],
    },
  });

  it('builds on the printer by default', () => {
    expect(parsePrinterUpdateJob(valid).firmware).toEqual({ source: 'build' });
  });

  it('takes prebuilt builds with their files by SHA-256, and a Linux build with its machine', () => {
    const job = parsePrinterUpdateJob(
      prebuilt({}, [
        { version: 'v0.13.0', kconfigHash: SUM, files: { 'klipper.elf': HASH }, machine: 'armv7l' },
      ]),
    );
    expect(job.firmware).toEqual({
      source: 'artifacts',
      builds: [
        { version: 'v0.13.0', kconfigHash: HASH, files: { 'klipper.bin': SUM } },
        { version: 'v0.13.0', kconfigHash: SUM, files: { 'klipper.elf': HASH }, machine: 'armv7l' },
      ],
    });
  });

  it.each<[string, unknown, RegExp]>([
    ['a version that reaches a path', prebuilt({ version: '../v0.13.0' }), /^firmware\.builds\.0\.version: /],
    [
      'a Kconfig hash that is not one',
      prebuilt({ kconfigHash: 'AB' }),
      /^firmware\.builds\.0\.kconfigHash: a SHA-256/,
    ],
    [
      'a file that is not a build artifact',
      prebuilt({ files: { '../../.ssh/authorized_keys': SUM } }),
      /^firmware\.builds\.0\.files/,
    ],
    [
      'a sum that is not a SHA-256',
      prebuilt({ files: { 'klipper.bin': 'x' } }),
      /^firmware\.builds\.0\.files\.klipper\.bin: a SHA-256/,
    ],
    ['no files', prebuilt({ files: {} }), /^firmware\.builds\.0\.files: at least one file/],
    ['a machine with a shell in it', prebuilt({ machine: 'x86_64;id' }), /^firmware\.builds\.0\.machine: /],
    ['an unknown field', prebuilt({ url: 'http://x' }), /^firmware\.builds\.0\.url: unknown field$/],
    ['no builds', { ...valid, firmware: { source: 'artifacts', builds: [] } }, /^firmware\.builds: /],
    ['an unknown source', { ...valid, firmware: { source: 'ftp' } }, /^firmware\.source: /],
    [
      'the same build twice',
      prebuilt({}, [{ version: 'v0.13.0', kconfigHash: HASH, files: { 'klipper.bin': SUM } }]),
      /^firmware\.builds\.1: a second build of v0\.13\.0 for Kconfig ab/,
    ],
  ])('refuses %s, naming the field', (_what, input, issue) => {
    expect(jobIssues(input)).toEqual([expect.stringMatching(issue)]);
  });
});

describe('hostile values', () => {
  it('covers every field a value reaches the host through', () => {
    const fields = new Set(
      corpus.map(([field]) => field.replace(/^can\.(?!can0\.socket$).*$/s, 'can.<interface>')),
    );
    expect([...fields].sort()).toEqual(
      [
        'can.<interface>',
        'can.can0.socket',
        'host.address',
        'host.hostKey',
        'host.port',
        'host.user',
        'mcus.0.bootloader',
        'mcus.0.canInterface',
        'mcus.0.canbusUuid',
        'mcus.0.kind',
        'mcus.0.name',
        'mcus.0.serial',
        'mcus.1.bootloader',
        'mcus.1.bridge',
        'mcus.1.canInterface',
        'mcus.1.canbusUuid',
        'mcus.1.kconfig',
        'mcus.1.sdcardBoard',
        'mcus.1.serial',
        'mcus.2.bootloader',
        'mcus.2.bridge',
        'mcus.2.serial',
        'mcus.3.bootloader',
        'mcus.4.canbusUuid',
        'mcus.4.name',
        'paths.flashtool',
        'paths.klipper',
        'paths.printerConfig',
        'paths.python',
        'printerId',
        'requestId',
        'target.commit',
        'target.ref',
        'target.version',
      ].sort(),
    );
    expect(corpus.length).toBeGreaterThan(200);
  });

  it.each(corpus)('%s = %s is rejected by the job schema, naming the field', (field, _value, c) => {
    expect(jobIssues(c.job)).toContainEqual(expect.stringMatching(fieldIssue(field)));
    expect(() => parsePrinterUpdateJob(c.job)).toThrow(/^invalid printer-update job: /);
  });

  it.each(corpus.filter(([, , c]) => c.domain !== null))(
    '%s = %s is rejected by its domain validator too, in the same words',
    (field, _value, c) => {
      const domain = domainIssues(c.domain!);
      expect(domain).toContainEqual(expect.stringMatching(fieldIssue(field)));
      if (c.shape) return;
      const schema = jobIssues(c.job);
      for (const issue of domain) expect(schema).toContain(issue);
    },
  );
});

describe('valid values pass both the job schema and the domain', () => {
  it.each(['v0.13.0', 'master', 'origin/master', SHA1_COMMIT, 'v0.13.0-rc1'])('ref %s', (ref) => {
    expect(validateGitRef(ref, 'target.ref')).toBe(ref);
    for (const mode of ['update', 'build-only', 'dry-run']) {
      expect(parsePrinterUpdateJob({ ...valid, mode, target: { ref } }).target).toEqual({ ref });
    }
  });

  it.each([SHA1_COMMIT, SHA256_COMMIT])('commit %s with a ref', (commit) => {
    const job = parsePrinterUpdateJob({ ...valid, target: { ref: 'v0.13.0', commit } });
    expect(job.target).toEqual({ ref: 'v0.13.0', commit });
  });

  it.each(['v0.12.0-0-g0d67d9c45', 'v0.13.0-730-g84104bbbd-dirty', '?'])('rollback version %s', (version) => {
    expect(assertSafeVersion(version, 'target.version')).toBe(version);
    const job = parsePrinterUpdateJob({ ...valid, mode: 'rollback', target: { version } });
    expect(job.target).toEqual({ version });
  });

  it('a rollback to the previous good version', () => {
    expect(parsePrinterUpdateJob({ ...valid, mode: 'rollback', target: {} }).target).toEqual({});
  });

  it.each<[string, () => McuInventoryEntry[]]>([
    ['voronInventory', voronInventory],
    ['bridgeInventory', bridgeInventory],
  ])('the inventory %s, coming out validated as the domain validates it', (_name, inventory) => {
    const job = parsePrinterUpdateJob({ ...valid, mcus: inventory() });
    expect(job.instances[0]!.mcus).toEqual(validateMcuInventory(inventory()));
    for (const mcu of job.instances[0]!.mcus) expect(mcu.kconfigHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('normalises CAN fields as the domain does', () => {
    const ebb36 = parsePrinterUpdateJob(valid).instances[0]!.mcus[0]!;
    expect(ebb36).toMatchObject({ canbusUuid: '11aa22bb33cc', canInterface: 'can0' });
    expect(ebb36.parsedKconfig).toMatchObject({ interface: 'can', canBitrate: 1000000 });
  });

  it.each([
    [{ klipper: '/home/pi/klipper' }],
    [{ flashtool: '~/katapult/scripts/flashtool.py' }],
    [{ python: '/home/pi/klippy-env/bin/python' }],
    [{ python: '/usr/bin/python3' }],
  ])('paths %j', (paths) => {
    expect(parsePrinterUpdateJob({ ...valid, paths }).paths).toMatchObject(paths);
  });

  it('CAN transports by interface name', () => {
    const can = { can0: { type: 'socketcan' }, can1: { type: 'unix', socket: '/run/lockstep/can1.sock' } };
    expect(parsePrinterUpdateJob({ ...valid, can }).can).toEqual(can);
  });
});

describe('target fields per mode', () => {
  it.each([
    ['update', {}, /^target\.ref: required for mode 'update'/],
    ['build-only', {}, /^target\.ref: required for mode 'build-only'/],
    ['dry-run', { commit: SHA1_COMMIT }, /^target\.ref: required for mode 'dry-run'/],
    ['update', { ref: 'v0.13.0', version: 'v0.12.0' }, /^target\.version: only for mode 'rollback'/],
    ['dry-run', { version: 'v0.12.0' }, /^target\.version: only for mode 'rollback'/],
    ['rollback', { ref: 'v0.12.0' }, /^target\.ref: not allowed for mode 'rollback'/],
    [
      'rollback',
      { version: 'v0.12.0', commit: SHA1_COMMIT },
      /^target\.commit: not allowed for mode 'rollback'/,
    ],
  ])('%s with %j is rejected', (mode, target, message) => {
    expect(jobIssues({ ...valid, mode, target })).toContainEqual(expect.stringMatching(message));
  });

  it('checks the mode rules even when other fields are bad', () => {
    const issues = jobIssues({ ...valid, target: {}, printerId: 'a b' });
    expect(issues).toContainEqual(expect.stringMatching(/^target\.ref: required/));
    expect(issues).toContainEqual(expect.stringMatching(/^printerId: /));
  });
});

describe('printerUpdateJobData', () => {
  it('turns a parsed job back into data the schema accepts again', () => {
    const job = parsePrinterUpdateJob(valid);
    const data = JSON.parse(JSON.stringify(printerUpdateJobData(job)));
    expect(data.instances[0].mcus[0]).not.toHaveProperty('kconfigHash');
    expect(parsePrinterUpdateJob(data)).toEqual(job);
  });
});

describe('printer-update result schema', () => {
  const result = {
    printerId: 'f1-printer-01',
    jobId: 'printer-update.f1-printer-01.r1',
    mode: 'update',
    outcome: 'updated',
    fromVersion: 'v0.12.0-0-g0d67d9c45',
    targetVersion: 'v0.13.0-0-g84104bbbd',
    hostVersion: 'v0.13.0-0-g84104bbbd',
    klipperRunning: true,
    instances: [{ printerId: 'f1-printer-01', service: 'klipper', klipperRunning: true }],
    mcus: [
      {
        name: 'mcu',
        instance: 'f1-printer-01',
        versionBefore: null,
        versionAfter: 'v0.13.0-0-g84104bbbd',
        flashAttempts: 1,
      },
    ],
    plan: {
      steps: [
        {
          order: 1,
          mcu: 'mcu',
          instance: 'f1-printer-01',
          kind: 'usb-stm32',
          flashMethod: 'katapult-usb',
          kconfigHash: 'a'.repeat(64),
          artifact: 'klipper.bin',
          upToDate: false,
        },
      ],
      builds: [{ kconfigHash: 'a'.repeat(64), mcus: ['mcu'] }],
      notRemotelyFlashable: [],
      upToDateNotRemotelyFlashable: [],
    },
    timings: { totalMs: 1, remoteMs: 1, steps: [{ step: 'resolve-target', ms: 1 }] },
  };

  it('defaults warnings to none', () => {
    expect(parsePrinterUpdateResult(result).warnings).toEqual([]);
  });

  it.each([
    ['klipperRunning unknown', { klipperRunning: null }],
    ['warnings', { warnings: ['could not prune ~/.lockstep/firmware'] }],
    ['a lost lease', { outcome: 'lease-lost' }],
    [
      'a hint',
      {
        outcome: 'needs-attention',
        needsAttention: { reason: 'journal unreadable', step: 'read-config', hint: 'inspect the journal' },
      },
    ],
  ])('accepts %s', (_name, change) => {
    expect(() => parsePrinterUpdateResult({ ...result, ...change })).not.toThrow();
  });

  it.each([
    [
      'an unknown flash method',
      { plan: { ...result.plan, steps: [{ ...result.plan.steps[0], flashMethod: 'x' }] } },
    ],
    ['an unknown step', { timings: { ...result.timings, steps: [{ step: 'checkout-ref', ms: 1 }] } }],
    ['klipperRunning missing', { klipperRunning: undefined }],
  ])('rejects %s', (_name, change) => {
    expect(() => parsePrinterUpdateResult({ ...result, ...change })).toThrow(/invalid printer-update result/);
  });

  it('lists the steps in the order an update goes through them', () => {
    expect(UPDATE_STEPS).toEqual([
      'connect',
      'read-config',
      'resolve-target',
      'preflight',
      'backup',
      'build',
      'stop',
      'checkout',
      'flash',
      'verify',
      'start',
      'rollback',
      'done',
    ]);
  });
});

it('keeps F446_USB_KATAPULT a valid mainboard Kconfig (the corpus builds on it)', () => {
  expect(() => validateMcuInventory([{ ...voronInventory()[1]!, kconfig: F446_USB_KATAPULT }])).not.toThrow();
});
