ALTER TYPE "public"."shipment_status" ADD VALUE 'picked_up' BEFORE 'in_transit';--> statement-breakpoint
CREATE TABLE "outbox" (
	"seq" bigint GENERATED ALWAYS AS IDENTITY (sequence name "outbox_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" uuid PRIMARY KEY NOT NULL,
	"aggregate_id" uuid NOT NULL,
	"event_name" text NOT NULL,
	"event_type" text NOT NULL,
	"payload" "bytea" NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"published_at" timestamp (3) with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"traceparent" text,
	"next_attempt_at" timestamp (3) with time zone,
	"failed_at" timestamp (3) with time zone
);
--> statement-breakpoint
ALTER TABLE "shipments" ADD COLUMN "version" bigint DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "shipments" ADD COLUMN "carrier_due_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "outbox_pending" ON "outbox" USING btree ("seq") WHERE "outbox"."published_at" is null and "outbox"."failed_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_pending_by_aggregate" ON "outbox" USING btree ("aggregate_id","seq") WHERE "outbox"."published_at" is null and "outbox"."failed_at" is null;--> statement-breakpoint
CREATE INDEX "shipments_carrier_due" ON "shipments" USING btree ("carrier_due_at") WHERE "shipments"."carrier_due_at" is not null;--> statement-breakpoint
-- Wakes the outbox relay as soon as an outbox insert commits: NOTIFY is transactional, so a relay
-- never hears about a row it cannot see yet, and a rolled-back insert is never announced.
CREATE FUNCTION "outbox_notify"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('shipping_outbox', '');
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER "outbox_notify" AFTER INSERT ON "outbox" FOR EACH STATEMENT EXECUTE FUNCTION "outbox_notify"();
