ALTER TYPE "public"."notification_kind" ADD VALUE 'shipped';--> statement-breakpoint
ALTER TYPE "public"."notification_kind" ADD VALUE 'delivered';