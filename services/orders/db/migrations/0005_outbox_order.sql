DROP INDEX "outbox_unpublished";--> statement-breakpoint
-- Rows already there are numbered in the order the old relay published them (created_at, id), so the
-- pending events of an order keep their order; new rows continue after the highest number.
ALTER TABLE "outbox" ADD COLUMN "seq" bigint;--> statement-breakpoint
UPDATE "outbox" SET "seq" = "numbered"."n" FROM (SELECT "id", row_number() OVER (ORDER BY "created_at", "id") AS "n" FROM "outbox") AS "numbered" WHERE "outbox"."id" = "numbered"."id";--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "seq" SET NOT NULL;--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "seq" ADD GENERATED ALWAYS AS IDENTITY (sequence name "outbox_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1);--> statement-breakpoint
SELECT setval(pg_get_serial_sequence('"outbox"', 'seq'), (SELECT coalesce(max("seq"), 0) + 1 FROM "outbox"), false);--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "next_attempt_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "failed_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "outbox_pending" ON "outbox" USING btree ("seq") WHERE "outbox"."published_at" is null and "outbox"."failed_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_pending_by_aggregate" ON "outbox" USING btree ("aggregate_id","seq") WHERE "outbox"."published_at" is null and "outbox"."failed_at" is null;
