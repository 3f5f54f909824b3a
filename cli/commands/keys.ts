// API keys (admin only): create (the key is shown once), ls, revoke.
import type { Argv } from "yargs";
import { JetqClientError } from "../../client/errors.js";
import { DEFAULT_TENANT, ROLES } from "../../api/auth/roles.js";
import { command, type Context, type GlobalArgs } from "../context.js";
import { age } from "../output.js";

const UNITS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** `--expires-in 90d` (m, h or d) as the time it ends. Thrown errors are usage errors. */
export function expiryIn(value: string, now = Date.now()): string {
  const m = /^(\d+)([mhd])$/.exec(value);
  if (!m || Number(m[1]) === 0) throw new Error(`--expires-in must be a number of minutes, hours or days such as 30m, 12h or 90d, not ${JSON.stringify(value)}`);
  return new Date(now + Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]).toISOString();
}

/**
 * An API without the key endpoints answers its catch-all 404 ("no route for …"); say that plainly
 * rather than "not found", which would read as "no such key".
 */
async function keysCall<T>(ctx: Context, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof JetqClientError && err.status === 404 && /^no route for /.test(err.message))
      throw new JetqClientError(404, err.code, `the API at ${ctx.url} has no key endpoints (/api/keys): it is a jetq without API keys (${err.message})`, err.details);
    throw err;
  }
}

export function keyCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y.command("keys", "API keys (admin): create, ls, revoke", (k) =>
    k
      .command(
        "create",
        "Make an API key; it is printed this once and stored only as a hash",
        (c) =>
          c
            .option("role", { alias: "r", choices: ROLES, demandOption: true, describe: "viewer: read; member: also create, cancel, upload, search; admin: everything" })
            .option("tenant", { type: "string", default: DEFAULT_TENANT, describe: "the tenant the key acts for" })
            .option("name", { type: "string", describe: "what the key is for" })
            .option("expires-at", { type: "string", describe: "when it stops working (RFC 3339, e.g. 2027-01-31T00:00:00Z)" })
            .option("expires-in", { type: "string", describe: "or how long it works: 30m, 12h, 90d", coerce: (v: string | undefined) => (v === undefined ? undefined : expiryIn(v)) })
            .conflicts("expires-at", "expires-in")
            .example("$0 keys create --role member --name ingest-bot --expires-in 90d", ""),
        command(async (ctx, a) => {
          const expiresAt = a.expiresAt ?? a.expiresIn;
          const key = await keysCall(ctx, () => ctx.client.keys.create({ tenant: a.tenant, role: a.role, ...(a.name ? { name: a.name } : {}), ...(expiresAt ? { expiresAt } : {}) }));
          if (ctx.out.json) return ctx.out.printJson(key);
          ctx.out.line(key.key);
          ctx.out.note(`key ${key.id}: tenant ${key.tenant}, role ${key.role}, ${key.expiresAt ? `expires ${key.expiresAt}` : "never expires"}`);
          ctx.out.note("store it now: it is never shown again (use it with --api-key or JETQ_API_KEY)");
        }),
      )
      .command(
        "ls",
        "List API keys (never their secrets)",
        (c) => c,
        command(async (ctx) => {
          const list = await keysCall(ctx, () => ctx.client.keys.list());
          if (ctx.out.json) return ctx.out.printJson(list);
          ctx.out.table(
            ["ID", "NAME", "TENANT", "ROLE", "PREFIX", "CREATED BY", "AGE", "EXPIRES"],
            list.items.map((key) => [key.id, key.name ?? "-", key.tenant, key.role, key.prefix, key.createdBy, age(key.createdAt), key.expired ? ctx.out.paint("red", "expired") : (key.expiresAt ?? "never")]),
            "no API keys",
          );
        }),
      )
      .command(
        "revoke <id>",
        "Revoke an API key: requests with it are refused from then on",
        (c) => c.positional("id", { type: "string", demandOption: true, describe: "the key's id (jetq keys ls)" }),
        command(async (ctx, a) => {
          await keysCall(ctx, () => ctx.client.keys.revoke(a.id));
          if (ctx.out.json) return ctx.out.printJson({ revoked: a.id });
          ctx.out.line(`revoked ${a.id}`);
        }),
      )
      .demandCommand(1, "give a keys command: create, ls or revoke"),
  );
}
