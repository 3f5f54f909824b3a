// Decides whether a source URL may be fetched (SSRF guard) and which address to connect to. The
// policy (which ranges, names and directories are refused) is library/source-safety.ts, shared with
// the API's registration check; this adds what only a fetcher can do: resolve the name and vet
// every address it has. The vetted address is pinned for the connection, so a DNS answer that
// changes between the check and the connect (rebinding) cannot redirect the request.
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { NonRetryableError } from "../../kernel/errors.js";
import {
  addressRefusal,
  bareHost,
  interfaceAddresses,
  isTrustedHost,
  localNameRefusal,
  parseSourceUrl,
  type OwnAddresses,
  type SourcePolicy,
} from "../../library/source-safety.js";
import { SourceFetchError } from "./source-errors.js";

export { bareHost, nonGlobalRange as refusedRange } from "../../library/source-safety.js";

export type AddressGuardLimits = Pick<SourcePolicy, "allowPrivateAddresses" | "allowedHosts">;

/** Resolves a host name to every address it has (dns.lookup with `all: true`). */
export type ResolveHost = (host: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: ResolveHost = (host) => dnsLookup(host, { all: true, verbatim: true });

export interface VettedUrl {
  url: URL;
  /** The host as written in the URL, without IPv6 brackets, lower-cased. */
  host: string;
  /** The address to connect to. */
  address: string;
  family: 4 | 6;
}

/**
 * Checks a URL and returns the address to connect to. Throws NonRetryableError ("invalid_url",
 * "address_refused") when it may never be fetched, SourceFetchError ("dns_lookup_failed") when its
 * name cannot be resolved right now.
 */
export async function vetUrl(
  input: string | URL,
  limits: AddressGuardLimits,
  resolve: ResolveHost = systemResolver,
  own: OwnAddresses = interfaceAddresses,
): Promise<VettedUrl> {
  const url = parseSourceUrl(input);
  if (!(url instanceof URL)) throw new NonRetryableError(url.message, url.code);
  const host = bareHost(url.hostname);
  const trusted = isTrustedHost(host, limits);
  if (!trusted) {
    const local = localNameRefusal(host);
    if (local) throw new NonRetryableError(local.message, local.code);
  }
  const literalFamily = isIP(host);
  const addresses = literalFamily ? [{ address: host, family: literalFamily }] : await resolveOrThrow(host, resolve);
  if (!trusted) {
    // One bad address is enough: the resolver could hand any of them to the connection.
    for (const { address } of addresses) {
      const refusal = addressRefusal(host, address, own);
      if (refusal) throw new NonRetryableError(refusal.message, refusal.code);
    }
  }
  const first = addresses[0]!;
  return { url, host, address: first.address, family: first.family === 6 ? 6 : 4 };
}

async function resolveOrThrow(host: string, resolve: ResolveHost) {
  let addresses: Array<{ address: string; family: number }>;
  try {
    addresses = await resolve(host);
  } catch (err) {
    // Retryable: name resolution fails for a while (resolver down, network away) and comes back.
    const code = (err as { code?: string }).code ?? "error";
    throw new SourceFetchError(`cannot resolve host ${host}: ${code}`, "dns_lookup_failed");
  }
  if (addresses.length === 0) throw new SourceFetchError(`host ${host} has no addresses`, "dns_lookup_failed");
  return addresses;
}
