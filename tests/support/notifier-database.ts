import type { Database } from "../../services/platform/db/index.js";
import * as schema from "../../services/notifier/db/schema.js";
import { NotificationStore } from "../../services/notifier/notification-store.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";
import { openNotifierDatabase } from "../../services/notifier/db/open-database.js";

/** A migrated, uniquely named notifier database with its store. */
export interface NotifierDatabase {
  testDb: TestDatabase;
  database: Database<typeof schema>;
  store: NotificationStore;
  close(): Promise<void>;
}

/** Creates and migrates a fresh notifier database; close() drops it. */
export async function createNotifierDatabase(): Promise<NotifierDatabase> {
  const testDb = await createTestDatabase("notifier_test");
  const database = await openNotifierDatabase(testDb.url, 5);
  return {
    testDb,
    database,
    store: new NotificationStore(database.db, database.sql),
    async close() {
      await database.close();
      await testDb.drop();
    },
  };
}
