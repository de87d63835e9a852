import { sql } from 'drizzle-orm';
import {
  bigserial,
  boolean,
  check,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
} from 'drizzle-orm/pg-core';

const moment = (name: string) => timestamp(name, { withTimezone: true }).notNull().defaultNow();
const createdAt = () => moment('created_at');

/** API tokens: the secret is kept only as its SHA-256. */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    role: text('role').notNull(),
    secretSha256: text('secret_sha256').notNull(),
    createdAt: createdAt(),
    createdBy: text('created_by'),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [check('api_tokens_role', sql`${t.role} in ('admin', 'operator', 'ci', 'viewer')`)],
);

/** Printer hosts: one SSH target each, with its pinned host key. */
export const hosts = pgTable('hosts', {
  id: text('id').primaryKey(),
  address: text('address').notNull(),
  port: integer('port').notNull(),
  sshUser: text('ssh_user').notNull(),
  /** The pinned public key line; null until the first connection pins it. */
  hostKey: text('host_key'),
  groups: text('groups').array().notNull(),
  tags: text('tags').array().notNull(),
  /** How the host's programs reach each CAN interface (a printer-update job's `can`). */
  can: jsonb('can').notNull().default({}),
  /** Where the Klipper checkout and tools are, where they differ from the defaults (a job's `paths`). */
  paths: jsonb('paths').notNull().default({}),
  /** A build host: firmware for the whole fleet is built here once and flashed from its artifacts. */
  build: boolean('build').notNull().default(false),
  /** Its machine as `uname -m` prints it, once a job has read it (Linux MCU builds are per machine). */
  machine: text('machine'),
  /** Why no job may reach it (its host key changed): set until an admin pins a key again. */
  blockedReason: text('blocked_reason'),
  createdAt: createdAt(),
  updatedAt: moment('updated_at'),
});

/** Klipper instances: each a printer with its own printer.cfg, Moonraker and MCUs. */
export const printers = pgTable(
  'printers',
  {
    id: text('id').primaryKey(),
    hostId: text('host_id')
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    /** Its place among the host's instances, as jobs list them. */
    position: integer('position').notNull(),
    service: text('service').notNull(),
    printerConfig: text('printer_config').notNull(),
    moonrakerPort: integer('moonraker_port').notNull(),
    /** The Klipper version it was last seen running (the host's). */
    version: text('version'),
    /** Why an operator must look at it (a held update): reason, step, MCU, hint. */
    needsAttention: jsonb('needs_attention'),
    createdAt: createdAt(),
  },
  (t) => [
    unique('printers_host_service').on(t.hostId, t.service),
    unique('printers_host_port').on(t.hostId, t.moonrakerPort),
  ],
);

/** MCU profiles: one Kconfig, by its hash, shared by every MCU built from it. */
export const profiles = pgTable('profiles', {
  kconfigSha256: text('kconfig_sha256').primaryKey(),
  kconfig: text('kconfig').notNull(),
  createdAt: createdAt(),
});

/** The MCUs of each printer, as its printer.cfg names them. */
export const mcus = pgTable(
  'mcus',
  {
    printerId: text('printer_id')
      .notNull()
      .references(() => printers.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    position: integer('position').notNull(),
    kind: text('kind').notNull(),
    bootloader: text('bootloader').notNull(),
    serial: text('serial'),
    canbusUuid: text('canbus_uuid'),
    canInterface: text('can_interface'),
    bridge: text('bridge'),
    manualBootloaderEntry: boolean('manual_bootloader_entry'),
    sdcardBoard: text('sdcard_board'),
    kconfigSha256: text('kconfig_sha256')
      .notNull()
      .references(() => profiles.kconfigSha256),
    /** The version it was last seen running. */
    version: text('version'),
  },
  (t) => [primaryKey({ columns: [t.printerId, t.name] })],
);

/** Who did what, append-only. */
export const auditLog = pgTable('audit_log', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: moment('at'),
  /** The token's id and name, or `bootstrap`. */
  actor: text('actor').notNull(),
  action: text('action').notNull(),
  subject: text('subject').notNull(),
  detail: jsonb('detail').notNull(),
});

/** A rollout: one target commit for a selection of hosts, advanced batch by batch. */
export const rollouts = pgTable(
  'rollouts',
  {
    id: text('id').primaryKey(),
    /** `update` to a resolved commit, or `rollback` of one host to an earlier version it stores. */
    mode: text('mode').notNull().default('update'),
    /** The ref asked for; for a rollback, the version or `previous`. */
    ref: text('ref').notNull(),
    /** The commit every host installs (empty for a rollback: each host knows its own). */
    commit: text('commit').notNull(),
    /** The version it installs (for a rollback: the one asked for, or empty for the previous one). */
    version: text('version').notNull(),
    state: text('state').notNull(),
    /** Why it paused, failed or was cancelled. */
    reason: text('reason'),
    /** Failures an operator accepted by resuming a rollout that its failure budget had stopped. */
    acceptedFailures: integer('accepted_failures').notNull().default(0),
    /** The build whose artifacts every host flashes; null where each printer builds its own. */
    buildId: text('build_id'),
    strategy: jsonb('strategy').notNull(),
    selection: jsonb('selection').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    updatedAt: moment('updated_at'),
  },
  (t) => [
    check('rollouts_mode', sql`${t.mode} in ('update', 'rollback')`),
    check(
      'rollouts_state',
      sql`${t.state} in ('building', 'running', 'paused', 'completed', 'failed', 'aborted', 'cancelled')`,
    ),
  ],
);

/** Each host of a rollout: its batch, its job and how it ended. */
export const rolloutHosts = pgTable(
  'rollout_hosts',
  {
    rolloutId: text('rollout_id')
      .notNull()
      .references(() => rollouts.id, { onDelete: 'cascade' }),
    hostId: text('host_id').notNull(),
    /** 0 for the canaries, then 1, 2, … */
    batch: integer('batch').notNull(),
    position: integer('position').notNull(),
    /** pending, queued, then the job's outcome (or failed, unreachable, cancelled). */
    state: text('state').notNull(),
    /** The job's payload, built once when the host is queued (a retry enqueues the same work). */
    jobId: text('job_id'),
    attempt: integer('attempt').notNull().default(0),
    result: jsonb('result'),
    queuedAt: timestamp('queued_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.rolloutId, t.hostId] })],
);

/** Firmware builds on a build host: for a rollout, or asked for by CI and promoted to one later. */
export const builds = pgTable(
  'builds',
  {
    id: text('id').primaryKey(),
    ref: text('ref').notNull(),
    commit: text('commit').notNull(),
    version: text('version').notNull(),
    state: text('state').notNull(),
    buildHostId: text('build_host_id').notNull(),
    /** The firmware-build job's id. */
    jobId: text('job_id').notNull(),
    /** What was asked for: each profile (Kconfig hash, name) at each commit. */
    requests: jsonb('requests').notNull(),
    /** The job's result: per profile outcome, version, files with SHA-256 and size, log tail. */
    result: jsonb('result'),
    reason: text('reason'),
    /** The rollout that made it, or the one it was promoted to. */
    rolloutId: text('rollout_id'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [check('builds_state', sql`${t.state} in ('running', 'succeeded', 'failed')`)],
);

/** Every version change of every MCU a job read back, and how the job ended. */
export const mcuHistory = pgTable('mcu_history', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: moment('at'),
  printerId: text('printer_id').notNull(),
  mcu: text('mcu').notNull(),
  fromVersion: text('from_version'),
  toVersion: text('to_version'),
  outcome: text('outcome').notNull(),
  rolloutId: text('rollout_id').notNull(),
});

/**
 * Events for live clients (SSE, resumable by id) and webhooks. A key makes recording the same
 * event twice (two API processes hear the same job end) a no-op.
 */
export const events = pgTable('events', {
  id: bigserial('id', { mode: 'number' }).primaryKey(),
  at: moment('at'),
  type: text('type').notNull(),
  rolloutId: text('rollout_id'),
  hostId: text('host_id'),
  printerId: text('printer_id'),
  buildId: text('build_id'),
  data: jsonb('data').notNull(),
  key: text('key').unique(),
});

/** Webhooks: URLs told of rollout and printer events, as JSON Slack and Discord accept. */
export const webhooks = pgTable('webhooks', {
  id: text('id').primaryKey(),
  url: text('url').notNull(),
  /** The event types it is told of. */
  events: text('events').array().notNull(),
  createdBy: text('created_by').notNull(),
  createdAt: createdAt(),
});
