CREATE TABLE "rollout_hosts" (
	"rollout_id" text NOT NULL,
	"host_id" text NOT NULL,
	"batch" integer NOT NULL,
	"position" integer NOT NULL,
	"state" text NOT NULL,
	"job_id" text,
	"attempt" integer DEFAULT 0 NOT NULL,
	"result" jsonb,
	"queued_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "rollout_hosts_rollout_id_host_id_pk" PRIMARY KEY("rollout_id","host_id")
);
--> statement-breakpoint
CREATE TABLE "rollouts" (
	"id" text PRIMARY KEY NOT NULL,
	"ref" text NOT NULL,
	"commit" text NOT NULL,
	"version" text NOT NULL,
	"state" text NOT NULL,
	"reason" text,
	"accepted_failures" integer DEFAULT 0 NOT NULL,
	"strategy" jsonb NOT NULL,
	"selection" jsonb NOT NULL,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rollouts_state" CHECK ("rollouts"."state" in ('running', 'paused', 'completed', 'failed', 'aborted', 'cancelled'))
);
--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "can" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "paths" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "rollout_hosts" ADD CONSTRAINT "rollout_hosts_rollout_id_rollouts_id_fk" FOREIGN KEY ("rollout_id") REFERENCES "public"."rollouts"("id") ON DELETE cascade ON UPDATE no action;