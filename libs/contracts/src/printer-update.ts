import { z } from 'zod';
import { describeIssues, domainRule, hostPath, noRepeats, sha256Hex, slug, sshTargetSchema } from './fields';
import {
  assertSafeVersion,
  BOOTLOADERS,
  FieldError,
  FLASH_METHODS,
  hostInstanceIssues,
  KLIPPER_UNIT,
  MCU_KINDS,
  McuInventoryError,
  UPDATE_MODES,
  UPDATE_OUTCOMES,
  UPDATE_STEPS,
  validateCanInterface,
  validateCommitId,
  validateGitRef,
  validateMcuInventory,
  type UpdateMode,
  type UpdateStep,
  type ValidatedMcu,
} from '@lockstep/mcu';

// The update's vocabulary is the domain's; re-exported for the api and worker that import it here.
export {
  UPDATE_MODES,
  UPDATE_OUTCOMES,
  UPDATE_STEPS,
  type UpdateMode,
  type UpdateOutcome,
  type UpdateStep,
} from '@lockstep/mcu';

/**
 * One MCU as producers send it: the shape only. Its rules (values, fields against each other,
 * MCUs against each other, the Kconfig against the kind) are `validateMcuInventory`'s, applied by
 * `mcuInventorySchema` to the whole list.
 */
export const mcuSpecSchema = z
  .object({
    /** The printer.cfg MCU name: `mcu` for [mcu], NAME for [mcu NAME]. */
    name: z.string(),
    kind: z.enum(MCU_KINDS),
    bootloader: z.enum(BOOTLOADERS),
    serial: z.string().optional(),
    canbusUuid: z.string().optional(),
    canInterface: z.string().optional(),
    /** For a CAN node behind a USB-to-CAN bridge: the bridge MCU's name. */
    bridge: z.string().optional(),
    manualBootloaderEntry: z.boolean().optional(),
    sdcardBoard: z.string().optional(),
    /** The board's Kconfig (.config) contents. */
    kconfig: z.string(),
  })
  .strict();
export type McuSpec = z.input<typeof mcuSpecSchema>;

/** A printer's MCUs, validated by the domain once and handed on parsed (Kconfig, hash, defaults). */
export const mcuInventorySchema = z.array(mcuSpecSchema).transform((mcus, ctx): ValidatedMcu[] => {
  try {
    return validateMcuInventory(mcus);
  } catch (error) {
    if (!(error instanceof McuInventoryError)) throw error;
    // The domain's paths start at `mcus`; zod adds the key this schema sits under.
    for (const issue of error.issues) {
      ctx.addIssue({ code: 'custom', path: [...issue.path.slice(1)], message: issue.message, input: mcus });
    }
    return z.NEVER;
  }
});

/** How the host's programs reach a CAN interface: SocketCAN, or a unix-socket bus (simulator). */
export const canTransportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('socketcan') }).strict(),
  z.object({ type: z.literal('unix'), socket: hostPath }).strict(),
]);
export type CanTransportSpec = z.infer<typeof canTransportSchema>;

/** CAN transports by interface name (`can0`); the names reach `ip` and the flash tools. */
export const canTransportsSchema = z.record(z.string(), canTransportSchema).superRefine((can, ctx) => {
  for (const name of Object.keys(can)) {
    try {
      validateCanInterface(name);
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      ctx.addIssue({ code: 'custom', path: [name], message: error.detail, input: name });
    }
  }
});

const targetSchema = z
  .object({
    /** update, build-only, dry-run (required): the Klipper tag, branch or commit to move to. */
    ref: z.string().superRefine(domainRule(validateGitRef)).optional(),
    /** rollback only: the version to go back to; absent, the printer's previous good version. */
    version: z.string().superRefine(domainRule(assertSafeVersion)).optional(),
    /** Only with ref: the full commit id the printer must resolve the ref to (resolved once per rollout). */
    commit: z.string().superRefine(domainRule(validateCommitId)).optional(),
  })
  .strict();

/** Which target fields a mode takes: a rollback goes back to a version, every other mode moves to a ref. */
function checkTargetForMode(
  job: { mode: UpdateMode; target: z.output<typeof targetSchema> },
  ctx: z.core.$RefinementCtx,
): void {
  const { mode, target } = job;
  const issue = (field: 'ref' | 'version' | 'commit', message: string): void =>
    ctx.addIssue({ code: 'custom', path: ['target', field], message, input: target[field] });
  if (mode === 'rollback') {
    if (target.ref !== undefined) {
      issue(
        'ref',
        "not allowed for mode 'rollback': give target.version, or nothing for the previous good version",
      );
    }
    if (target.commit !== undefined) {
      issue(
        'commit',
        "not allowed for mode 'rollback': it goes with target.ref, which a rollback has none of",
      );
    }
    return;
  }
  if (target.ref === undefined) {
    issue('ref', `required for mode '${mode}': the Klipper tag, branch or commit to move to`);
  }
  if (target.version !== undefined) {
    issue('version', `only for mode 'rollback'; mode '${mode}' moves to target.ref`);
  }
}

/** One build made on a build host: Klipper's version it reports, its Kconfig hash, its files by SHA-256. */
export const prebuiltFirmwareSchema = z
  .object({
    version: z.string().superRefine(domainRule(assertSafeVersion)),
    kconfigHash: sha256Hex,
    files: z
      .record(
        z.string().regex(/^klipper\.(bin|elf|uf2|dict)$/, 'klipper.bin, .elf, .uf2 or .dict'),
        sha256Hex,
      )
      .refine((files) => Object.keys(files).length > 0, 'at least one file'),
    /** A Linux MCU build: the machine its programs run on (`uname -m`; armv7l for a 32-bit userland). */
    machine: z
      .string()
      .regex(/^[a-z0-9_]{1,16}$/, 'a machine name as uname -m prints it')
      .optional(),
  })
  .strict();

/**
 * Where the printer's firmware comes from: built on the printer (the default), or built once on
 * a build host and fetched by the worker from its artifact store (LOCKSTEP_ARTIFACT_STORE).
 */
const firmwareSourceSchema = z.discriminatedUnion('source', [
  z.object({ source: z.literal('build') }).strict(),
  z
    .object({
      source: z.literal('artifacts'),
      /** The target version's builds, and those of the version the printer runs now (kept for a rollback). */
      builds: z
        .array(prebuiltFirmwareSchema)
        .min(1)
        .max(500)
        .superRefine(
          noRepeats(
            (build) => `${build.version} ${build.kconfigHash}`,
            (build) => `a second build of ${build.version} for Kconfig ${build.kconfigHash}`,
          ),
        ),
    })
    .strict(),
]);

/** One Klipper instance of the host: a printer with its own printer.cfg, Moonraker and MCUs. */
export const instanceSchema = z
  .object({
    /** The printer's id. */
    printerId: slug,
    /** Its klipper systemd unit: `klipper`, or `klipper-NAME` for a KIAUH instance. */
    service: z.string().regex(KLIPPER_UNIT, 'klipper or klipper-NAME (1-32 letters, digits or _)'),
    printerConfig: hostPath,
    moonrakerPort: z.number().int().min(1).max(65535),
    mcus: mcuInventorySchema,
  })
  .strict();
export type InstanceSpec = z.input<typeof instanceSchema>;
export type JobInstance = z.output<typeof instanceSchema>;

/** Klipper's default layout: one instance, `klipper` with `~/printer_data` and Moonraker on 7125. */
export const SINGLE_INSTANCE = {
  service: 'klipper',
  printerConfig: '~/printer_data/config/printer.cfg',
  moonrakerPort: 7125,
} as const;

/** A job names its MCUs (a single-instance host) or its instances, each with its own MCUs. */
function checkInstances(
  job: { mcus?: unknown; instances?: JobInstance[]; paths: { printerConfig?: string } },
  ctx: z.core.$RefinementCtx,
): void {
  const issue = (path: (string | number)[], message: string): void =>
    ctx.addIssue({ code: 'custom', path, message, input: job });
  if (job.instances === undefined) {
    if (job.mcus === undefined)
      issue(
        ['mcus'],
        "required: the printer's MCUs, or `instances` for a host with several Klipper instances",
      );
    return;
  }
  if (job.mcus !== undefined) issue(['mcus'], 'give the MCUs under each of `instances`, not beside them');
  if (job.paths.printerConfig !== undefined)
    issue(['paths', 'printerConfig'], 'give each instance its printerConfig instead');
  for (const { path, message } of hostInstanceIssues(job.instances)) issue(path, message);
}

/** The job as the worker runs it: always a list of instances (one for a job that names `mcus`). */
function toInstances<
  T extends {
    printerId: string;
    mcus?: ValidatedMcu[];
    instances?: JobInstance[];
    paths: { printerConfig?: string };
  },
>(job: T) {
  const { mcus, instances, paths, ...rest } = job;
  const { printerConfig, ...otherPaths } = paths;
  return {
    ...rest,
    paths: otherPaths as Omit<T['paths'], 'printerConfig'>,
    instances: instances ?? [
      {
        ...SINGLE_INSTANCE,
        printerId: job.printerId,
        printerConfig: printerConfig ?? SINGLE_INSTANCE.printerConfig,
        mcus: mcus ?? [],
      },
    ],
  };
}

export const printerUpdateJobSchema = z
  .object({
    /** The update's unit: the printer, or the host of several instances (its lease and journal). */
    printerId: slug,
    requestId: slug,
    mode: z.enum(UPDATE_MODES),
    target: targetSchema,
    host: sshTargetSchema,
    paths: z
      .object({
        klipper: hostPath.default('~/klipper'),
        /** With `mcus`: the printer's printer.cfg (default ~/printer_data/config/printer.cfg). */
        printerConfig: hostPath.optional(),
        flashtool: hostPath.default('~/klipper/lib/katapult/flashtool.py'),
        /** The interpreter of Katapult's flashtool.py: klippy's virtualenv, which has pyserial. */
        python: hostPath.default('~/klippy-env/bin/python'),
      })
      .strict()
      .default({
        klipper: '~/klipper',
        flashtool: '~/klipper/lib/katapult/flashtool.py',
        python: '~/klippy-env/bin/python',
      }),
    can: canTransportsSchema.default({}),
    /** A single-instance host's MCUs (Klipper's default layout); or give `instances`. */
    mcus: mcuInventorySchema.optional(),
    /** A host with several Klipper instances (KIAUH): each printer with its own MCUs. */
    instances: z.array(instanceSchema).min(1).max(16).optional(),
    firmware: firmwareSourceSchema.default({ source: 'build' }),
    policy: z
      .object({
        onFailure: z.enum(['hold', 'rollback']).default('hold'),
        maxFlashAttempts: z.number().int().min(1).max(5).default(2),
        /** Wait for a running print to finish until this time; without it a busy printer is skipped at once. */
        waitForIdleUntil: z.iso.datetime().optional(),
        minFreeDiskMb: z.number().int().min(1).default(200),
        /** Keep this many firmware versions in ~/.lockstep/firmware. */
        keepVersions: z.number().int().min(2).max(20).default(3),
      })
      .strict()
      .default({ onFailure: 'hold', maxFlashAttempts: 2, minFreeDiskMb: 200, keepVersions: 3 }),
    deadlines: z
      .object({
        commandSeconds: z.number().int().min(5).max(3600).default(60),
        buildSeconds: z.number().int().min(10).max(7200).default(1800),
        flashSeconds: z.number().int().min(10).max(3600).default(300),
        readySeconds: z.number().int().min(5).max(600).default(120),
      })
      .strict()
      .default({ commandSeconds: 60, buildSeconds: 1800, flashSeconds: 300, readySeconds: 120 }),
  })
  .strict()
  // Also when other fields are bad, so one answer lists every problem; not when mode or target
  // themselves are, which their own issues already report.
  .superRefine(checkTargetForMode, {
    when: (payload) =>
      payload.issues.every(
        (i) => i.path !== undefined && i.path.length > 0 && !['mode', 'target'].includes(String(i.path[0])),
      ),
  })
  .superRefine(checkInstances, {
    when: (payload) =>
      payload.issues.every(
        (i) =>
          i.path !== undefined &&
          i.path.length > 0 &&
          !['mcus', 'instances', 'paths'].includes(String(i.path[0])),
      ),
  })
  .transform(toInstances);

/** What producers send. */
export type PrinterUpdateJobInput = z.input<typeof printerUpdateJobSchema>;
/** What the worker runs: defaults filled, MCUs validated and parsed (`ValidatedMcu`). */
export type PrinterUpdateJob = z.output<typeof printerUpdateJobSchema>;

/**
 * In a result an MCU is named by its key on the host: its printer.cfg name (`mcu`), qualified by
 * its instance's printer id (`printer-2:mcu`) on a host with several instances.
 */
const planStepSchema = z.object({
  order: z.number().int(),
  mcu: z.string(),
  /** The printer id of the MCU's instance. */
  instance: z.string(),
  kind: z.enum(MCU_KINDS),
  flashMethod: z.enum(FLASH_METHODS),
  kconfigHash: z.string(),
  artifact: z.string(),
  upToDate: z.boolean(),
});

export const printerUpdateResultSchema = z
  .object({
    printerId: z.string(),
    jobId: z.string(),
    mode: z.enum(UPDATE_MODES),
    outcome: z.enum(UPDATE_OUTCOMES),
    fromVersion: z.string().nullable(),
    targetVersion: z.string().nullable(),
    hostVersion: z.string().nullable(),
    /** As read from the host at the end: whether any instance's Klipper runs; null when the host could not be asked. */
    klipperRunning: z.boolean().nullable(),
    /** Each instance (printer) of the host, its Klipper as read from the host at the end. */
    instances: z.array(
      z.object({ printerId: z.string(), service: z.string(), klipperRunning: z.boolean().nullable() }),
    ),
    mcus: z.array(
      z.object({
        name: z.string(),
        instance: z.string(),
        versionBefore: z.string().nullable(),
        versionAfter: z.string().nullable(),
        flashAttempts: z.number().int(),
      }),
    ),
    plan: z
      .object({
        steps: z.array(planStepSchema),
        builds: z.array(z.object({ kconfigHash: z.string(), mcus: z.array(z.string()) })),
        notRemotelyFlashable: z.array(z.object({ mcu: z.string(), reason: z.string() })),
        upToDateNotRemotelyFlashable: z.array(z.object({ mcu: z.string(), reason: z.string() })),
      })
      .optional(),
    needsAttention: z
      .object({
        reason: z.string(),
        step: z.enum(UPDATE_STEPS),
        mcu: z.string().optional(),
        /** The printer id of the instance the failure is about. */
        instance: z.string().optional(),
        exitCode: z.number().int().nullable().optional(),
        output: z.array(z.string()).default([]),
        /** What the operator should do; the result already names the printer, so the hint does not. */
        hint: z.string().optional(),
      })
      .optional(),
    /** Bookkeeping that failed after a verified start (journal, retention): the printer runs fine. */
    warnings: z.array(z.string()).default([]),
    timings: z.object({
      totalMs: z.number(),
      remoteMs: z.number(),
      steps: z.array(z.object({ step: z.enum(UPDATE_STEPS), ms: z.number() })),
    }),
  })
  .strict();
/** What the worker builds (defaults may be left out). */
export type PrinterUpdateResultInput = z.input<typeof printerUpdateResultSchema>;
export type PrinterUpdateResult = z.output<typeof printerUpdateResultSchema>;

export interface PrinterUpdateProgress {
  step: UpdateStep;
  /** The printer id of the instance the step is at, when it is at one. */
  instance?: string;
  mcu?: string;
  message: string;
  /** 0..100 over the whole job. */
  percent: number;
}

export class InvalidJobDataError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid printer-update job: ${issues.join('; ')}`);
    this.name = 'InvalidJobDataError';
  }
}

/**
 * Validates a printer-update payload with every rule the worker relies on (the domain's, for refs,
 * versions, MCUs and host paths), so a producer refuses exactly what the worker would. Errors name
 * the field (`mcus.2.canbusUuid`); the MCUs come out validated, Kconfigs parsed and hashed.
 */
export function parsePrinterUpdateJob(input: unknown): PrinterUpdateJob {
  const result = printerUpdateJobSchema.safeParse(input);
  if (!result.success) throw new InvalidJobDataError(describeIssues(result.error));
  return result.data;
}

/**
 * A parsed job back as queue data (what `parsePrinterUpdateJob` accepts again): its instances,
 * their MCUs without what validation added, so a producer that parsed a job can enqueue it.
 */
export function printerUpdateJobData(job: PrinterUpdateJob): PrinterUpdateJobInput {
  return {
    ...job,
    instances: job.instances.map((instance) => ({
      ...instance,
      mcus: instance.mcus.map(({ parsedKconfig: _kconfig, kconfigHash: _hash, ...spec }) => spec),
    })),
  };
}

export function parsePrinterUpdateResult(input: unknown): PrinterUpdateResult {
  const result = printerUpdateResultSchema.safeParse(input);
  if (!result.success) {
    throw new Error(`invalid printer-update result: ${describeIssues(result.error).join('; ')}`);
  }
  return result.data;
}
