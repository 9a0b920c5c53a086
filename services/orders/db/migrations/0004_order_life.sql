CREATE TYPE "public"."shipment_status" AS ENUM('pending', 'picked_up', 'in_transit', 'delivered', 'cancelled');--> statement-breakpoint
ALTER TYPE "public"."order_status" ADD VALUE 'cancelling';--> statement-breakpoint
ALTER TYPE "public"."order_status" ADD VALUE 'shipped';--> statement-breakpoint
ALTER TYPE "public"."order_status" ADD VALUE 'delivered';--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "version" bigint DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "shipment_status" "shipment_status";--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "shipment_carrier" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "shipment_tracking_number" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "shipment_updated_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "shipment_version" bigint DEFAULT 0 NOT NULL;