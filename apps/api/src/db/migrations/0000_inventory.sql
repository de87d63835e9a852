CREATE TABLE "api_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"secret_sha256" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"created_by" text,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_tokens_role" CHECK ("api_tokens"."role" in ('admin', 'operator', 'ci', 'viewer'))
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"subject" text NOT NULL,
	"detail" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hosts" (
	"id" text PRIMARY KEY NOT NULL,
	"address" text NOT NULL,
	"port" integer NOT NULL,
	"ssh_user" text NOT NULL,
	"host_key" text,
	"groups" text[] NOT NULL,
	"tags" text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mcus" (
	"printer_id" text NOT NULL,
	"name" text NOT NULL,
	"position" integer NOT NULL,
	"kind" text NOT NULL,
	"bootloader" text NOT NULL,
	"serial" text,
	"canbus_uuid" text,
	"can_interface" text,
	"bridge" text,
	"manual_bootloader_entry" boolean,
	"sdcard_board" text,
	"kconfig_sha256" text NOT NULL,
	"version" text,
	CONSTRAINT "mcus_printer_id_name_pk" PRIMARY KEY("printer_id","name")
);
--> statement-breakpoint
CREATE TABLE "printers" (
	"id" text PRIMARY KEY NOT NULL,
	"host_id" text NOT NULL,
	"position" integer NOT NULL,
	"service" text NOT NULL,
	"printer_config" text NOT NULL,
	"moonraker_port" integer NOT NULL,
	"version" text,
	"needs_attention" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "printers_host_service" UNIQUE("host_id","service"),
	CONSTRAINT "printers_host_port" UNIQUE("host_id","moonraker_port")
);
--> statement-breakpoint
CREATE TABLE "profiles" (
	"kconfig_sha256" text PRIMARY KEY NOT NULL,
	"kconfig" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "mcus" ADD CONSTRAINT "mcus_printer_id_printers_id_fk" FOREIGN KEY ("printer_id") REFERENCES "public"."printers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "mcus" ADD CONSTRAINT "mcus_kconfig_sha256_profiles_kconfig_sha256_fk" FOREIGN KEY ("kconfig_sha256") REFERENCES "public"."profiles"("kconfig_sha256") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "printers" ADD CONSTRAINT "printers_host_id_hosts_id_fk" FOREIGN KEY ("host_id") REFERENCES "public"."hosts"("id") ON DELETE cascade ON UPDATE no action;