CREATE TABLE "builds" (
	"id" text PRIMARY KEY NOT NULL,
	"ref" text NOT NULL,
	"commit" text NOT NULL,
	"version" text NOT NULL,
	"state" text NOT NULL,
	"build_host_id" text NOT NULL,
	"job_id" text NOT NULL,
	"requests" jsonb NOT NULL,
	"result" jsonb,
	"reason" text,
	"rollout_id" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "builds_state" CHECK ("builds"."state" in ('running', 'succeeded', 'failed'))
);
--> statement-breakpoint
CREATE TABLE "events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"type" text NOT NULL,
	"rollout_id" text,
	"host_id" text,
	"printer_id" text,
	"build_id" text,
	"data" jsonb NOT NULL,
	"key" text,
	CONSTRAINT "events_key_unique" UNIQUE("key")
);
--> statement-breakpoint
CREATE TABLE "mcu_history" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"printer_id" text NOT NULL,
	"mcu" text NOT NULL,
	"from_version" text,
	"to_version" text,
	"outcome" text NOT NULL,
	"rollout_id" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"events" text[] NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "rollouts" DROP CONSTRAINT "rollouts_state";--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "build" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "machine" text;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "blocked_reason" text;--> statement-breakpoint
ALTER TABLE "rollouts" ADD COLUMN "build_id" text;--> statement-breakpoint
ALTER TABLE "rollouts" ADD CONSTRAINT "rollouts_state" CHECK ("rollouts"."state" in ('building', 'running', 'paused', 'completed', 'failed', 'aborted', 'cancelled'));