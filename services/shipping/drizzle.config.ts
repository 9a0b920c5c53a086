import { defineConfig } from "drizzle-kit";

// `npx drizzle-kit generate --config services/shipping/drizzle.config.ts` writes a new migration.
export default defineConfig({
  dialect: "postgresql",
  schema: "./services/shipping/db/schema.ts",
  out: "./services/shipping/db/migrations",
});
