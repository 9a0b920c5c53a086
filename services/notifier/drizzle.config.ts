import { defineConfig } from "drizzle-kit";

// `npx drizzle-kit generate --config services/notifier/drizzle.config.ts` writes a new migration.
export default defineConfig({
  dialect: "postgresql",
  schema: "./services/notifier/db/schema.ts",
  out: "./services/notifier/db/migrations",
});
