// NATS credentials for a nats-server jetq starts itself (`npm start`, the tests' kit/nats-server.ts):
// one user per program with a random password, kept in a 0600 file of the data dir so a restart
// finds the same ones, and the `authorization` block of the server's config with each user's
// permissions (kernel/nats-permissions.ts). No user means no access: anonymous clients are refused.
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { NATS_PROGRAMS, natsPermissions, natsPermissionsJson, type NatsProgram } from "../kernel/nats-permissions.js";

export interface NatsUserCredentials {
  user: string;
  password: string;
}
export type NatsCredentials = Record<NatsProgram, NatsUserCredentials>;

export const CREDENTIALS_FILE = "nats-credentials.json";
export const SERVER_CONFIG_FILE = "nats-server.conf";

export function generateNatsCredentials(): NatsCredentials {
  // 32 random bytes: nothing to guess; base64url has no character nats' config syntax cares about.
  return Object.fromEntries(NATS_PROGRAMS.map((p) => [p, { user: p, password: randomBytes(32).toString("base64url") }])) as NatsCredentials;
}

/** The credentials in `dir`, made (0600) the first time. */
export function loadOrCreateNatsCredentials(dir: string): NatsCredentials {
  const file = join(dir, CREDENTIALS_FILE);
  if (existsSync(file)) {
    const stored = JSON.parse(readFileSync(file, "utf8")) as Partial<NatsCredentials>;
    if (NATS_PROGRAMS.every((p) => typeof stored[p]?.user === "string" && typeof stored[p]?.password === "string")) return stored as NatsCredentials;
    throw new Error(`${file} does not hold the credentials of ${NATS_PROGRAMS.join(", ")}; remove it to make new ones`);
  }
  const made = generateNatsCredentials();
  writeFileSync(file, JSON.stringify(made, null, 2) + "\n", { mode: 0o600 });
  chmodSync(file, 0o600); // the mode above is masked by the umask; this is not
  return made;
}

/** The environment a program's process connects with (kernel/config.ts reads it). */
export const natsCredentialsEnv = (c: NatsUserCredentials) => ({ NATS_USER: c.user, NATS_PASSWORD: c.password });

/** nats-server's `authorization { users = […] }` block (its config syntax accepts JSON values). */
export function natsAuthorizationConf(credentials: NatsCredentials): string {
  const users = NATS_PROGRAMS.map((p) => ({ user: credentials[p].user, password: credentials[p].password, permissions: natsPermissions(p) }));
  return `authorization {\n  users = ${JSON.stringify(users, null, 2).replace(/\n/g, "\n  ")}\n}\n`;
}

/** Writes the config file (0600: it holds the passwords) with the authorization block; returns its path. */
export function writeNatsServerConfig(dir: string, credentials: NatsCredentials): string {
  const file = join(dir, SERVER_CONFIG_FILE);
  writeFileSync(file, `# Written by jetq (scripts/nats-auth.ts) at every start; edits are lost.\n${natsAuthorizationConf(credentials)}`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

// `npx tsx scripts/nats-auth.ts chart-permissions`: rewrites the chart's copy of the permissions.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === "chart-permissions") {
  const file = fileURLToPath(new URL("../charts/jetq/files/nats-permissions.json", import.meta.url));
  writeFileSync(file, natsPermissionsJson());
  console.error(`wrote ${file}`);
}
