import { defineConfig } from "drizzle-kit";

// `npx drizzle-kit generate --config services/orders/drizzle.config.ts` writes a new migration.
export default defineConfig({
  dialect: "postgresql",
  schema: "./services/orders/db/schema.ts",
  out: "./services/orders/db/migrations",
});
