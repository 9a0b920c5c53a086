ALTER TABLE "orders" DROP CONSTRAINT "orders_request_id_unique";--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_customer_request_id_unique" UNIQUE("customer_id","request_id");