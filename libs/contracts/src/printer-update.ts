import { z } from 'zod';

/** Identifiers that end up in Redis keys, paths and logs. */
const slug = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, "_", "-" and "." only');

/** A host name or IP address; nothing a shell or ssh option parser would read differently. */
const hostAddress = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(?!-)[A-Za-z0-9.:-]+$/, 'a host name or IP address');

/** An OpenSSH public key line: the printer host's key, pinned. */
const hostKey = z
  .string()
  .regex(
    /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$/,
    'an OpenSSH public key line ("ssh-ed25519 AAAA...")',
  );

const unixUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name');

/** A path on the printer host: absolute, or relative to the user's home; plain characters only. */
const hostPath = z
  .string()
  .regex(/^(\/|~\/)?[A-Za-z0-9._+@:/-]+$/, 'an absolute or ~/ path of plain characters')
  .refine((p) => !p.split('/').includes('..'), 'no ".." components');

export const MCU_KINDS = ['linux', 'usb-stm32', 'rp2040', 'can', 'usb-can-bridge'] as const;
export const BOOTLOADERS = ['katapult', 'dfu', 'rp2040-rom', 'sdcard', 'none'] as const;

export const mcuSpecSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'the printer.cfg MCU name ([mcu NAME], or "mcu")'),
    kind: z.enum(MCU_KINDS),
    bootloader: z.enum(BOOTLOADERS),
    serial: z
      .string()
      .regex(/^\/[A-Za-z0-9._:/+@-]+$/, 'an absolute device path')
      .optional(),
    canbusUuid: z
      .string()
      .regex(/^[0-9a-f]{12}$/, '12 lower-case hex digits')
      .optional(),
    canInterface: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,15}$/, 'a network interface name')
      .optional(),
    bridge: z.string().optional(),
    manualBootloaderEntry: z.boolean().optional(),
    sdcardBoard: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a flash-sdcard.sh board name')
      .optional(),
    /** The board's Kconfig (.config) contents. */
    kconfig: z
      .string()
      .min(1)
      .max(64 * 1024),
  })
  .strict();
export type McuSpec = z.infer<typeof mcuSpecSchema>;

/** How the host's programs reach a CAN interface: SocketCAN, or a unix-socket bus (simulator). */
export const canTransportSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('socketcan') }).strict(),
  z.object({ type: z.literal('unix'), socket: hostPath }).strict(),
]);
export type CanTransportSpec = z.infer<typeof canTransportSchema>;

export const UPDATE_MODES = ['update', 'rollback', 'dry-run', 'build-only'] as const;
export type UpdateMode = (typeof UPDATE_MODES)[number];

export const printerUpdateJobSchema = z
  .object({
    printerId: slug,
    requestId: slug,
    mode: z.enum(UPDATE_MODES),
    /** update / build-only / dry-run: the Klipper ref to move to. rollback: an explicit version, or none for the previous good one. */
    target: z
      .object({
        ref: z.string().min(1).max(200).optional(),
        version: z.string().min(1).max(200).optional(),
      })
      .strict(),
    host: z
      .object({
        address: hostAddress,
        port: z.number().int().min(1).max(65535).default(22),
        user: unixUser,
        hostKey,
      })
      .strict(),
    paths: z
      .object({
        klipper: hostPath.default('~/klipper'),
        printerConfig: hostPath.default('~/printer_data/config/printer.cfg'),
        flashtool: hostPath.default('~/klipper/lib/katapult/flashtool.py'),
      })
      .strict()
      .default({
        klipper: '~/klipper',
        printerConfig: '~/printer_data/config/printer.cfg',
        flashtool: '~/klipper/lib/katapult/flashtool.py',
      }),
    can: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/), canTransportSchema).default({}),
    mcus: z.array(mcuSpecSchema).min(1).max(32),
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
  .strict();

export type PrinterUpdateJobInput = z.input<typeof printerUpdateJobSchema>;
export type PrinterUpdateJob = z.output<typeof printerUpdateJobSchema>;

export const UPDATE_OUTCOMES = [
  'updated',
  /** Nothing was changed on the printer (a build failed, a ref was missing): Klipper runs as before. */
  'failed',
  'already-current',
  'rolled-back',
  'held',
  'skipped-busy',
  'planned',
  'built',
  'failed-preflight',
  'cancelled',
] as const;
export type UpdateOutcome = (typeof UPDATE_OUTCOMES)[number];

export const UPDATE_STEPS = [
  'connect',
  'preflight',
  'backup',
  'checkout',
  'build',
  'stop',
  'flash',
  'verify',
  'start',
  'rollback',
  'done',
] as const;
export type UpdateStep = (typeof UPDATE_STEPS)[number];

const planStepSchema = z.object({
  order: z.number().int(),
  mcu: z.string(),
  kind: z.enum(MCU_KINDS),
  flashMethod: z.string(),
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
    klipperRunning: z.boolean(),
    mcus: z.array(
      z.object({
        name: z.string(),
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
        exitCode: z.number().int().nullable().optional(),
        output: z.array(z.string()).default([]),
      })
      .optional(),
    timings: z.object({
      totalMs: z.number(),
      remoteMs: z.number(),
      steps: z.array(z.object({ step: z.enum(UPDATE_STEPS), ms: z.number() })),
    }),
  })
  .strict();
export type PrinterUpdateResult = z.infer<typeof printerUpdateResultSchema>;

export interface PrinterUpdateProgress {
  step: UpdateStep;
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

/** Validates a printer-update payload; errors name the field (e.g. `mcus.2.canbusUuid`). */
export function parsePrinterUpdateJob(input: unknown): PrinterUpdateJob {
  const result = printerUpdateJobSchema.safeParse(input);
  if (!result.success) {
    throw new InvalidJobDataError(
      result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  return result.data;
}

export function parsePrinterUpdateResult(input: unknown): PrinterUpdateResult {
  const result = printerUpdateResultSchema.safeParse(input);
  if (!result.success) {
    throw new Error(
      `invalid printer-update result: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}
