/** Roles (with passwords) and databases (with owners) that the postgres init scripts create. */
export interface PostgresInit {
  roles: Map<string, string | undefined>;
  databases: Map<string, string | undefined>;
}

/** Reads CREATE ROLE/USER and CREATE DATABASE statements out of init scripts (plain SQL). */
export function parsePostgresInit(scripts: readonly string[]): PostgresInit {
  const roles = new Map<string, string | undefined>();
  const databases = new Map<string, string | undefined>();
  for (const script of scripts) {
    const sql = script.replace(/--.*$/gm, "");
    for (const match of sql.matchAll(/\bcreate\s+(?:role|user)\s+"?(\w+)"?([^;]*);/gi)) {
      const password = /\bpassword\s+'([^']*)'/i.exec(match[2] ?? "")?.[1];
      roles.set(match[1] ?? "", password);
    }
    for (const match of sql.matchAll(/\bcreate\s+database\s+"?(\w+)"?([^;]*);/gi)) {
      databases.set(match[1] ?? "", /\bowner\s*=?\s*"?(\w+)"?/i.exec(match[2] ?? "")?.[1]);
    }
  }
  return { roles, databases };
}
