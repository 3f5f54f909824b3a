// Decides whether a source URL may be fetched (SSRF guard) and which address to connect to.
// The vetted address is pinned for the connection, so a DNS answer that changes between the
// check and the connect (rebinding) cannot redirect the request to a private network.
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { NonRetryableError } from "../../core/errors.js";
import type { SourceLimits } from "./source-reader.js";

export type AddressGuardLimits = Pick<SourceLimits, "allowPrivateAddresses" | "allowedHosts">;

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

/** Checks a URL and returns the address to connect to, or throws NonRetryableError "address_refused". */
export async function vetUrl(input: string | URL, limits: AddressGuardLimits, resolve: ResolveHost = systemResolver): Promise<VettedUrl> {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new NonRetryableError(`not a valid URL: ${String(input)}`, "invalid_url");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new NonRetryableError(`refusing ${url.protocol} URL ${url.href}: only http and https sources are fetched`, "address_refused");
  }
  const host = bareHost(url.hostname);
  const literalFamily = isIP(host);
  const addresses = literalFamily ? [{ address: host, family: literalFamily }] : await resolveOrThrow(host, resolve);
  if (addresses.length === 0) throw Object.assign(new Error(`host ${host} has no addresses`), { code: "dns_lookup_failed" });

  const trusted = limits.allowPrivateAddresses || limits.allowedHosts.some((h) => bareHost(h) === host);
  if (!trusted) {
    // One bad address is enough: the resolver could hand any of them to the connection.
    for (const { address } of addresses) {
      const range = refusedRange(address);
      if (range) {
        throw new NonRetryableError(`refusing to fetch from ${host}: address ${address} is ${range}`, "address_refused");
      }
    }
  }
  const first = addresses[0]!;
  return { url, host, address: first.address, family: first.family === 6 ? 6 : 4 };
}

async function resolveOrThrow(host: string, resolve: ResolveHost) {
  try {
    return await resolve(host);
  } catch (err) {
    // Retryable: name resolution can fail for a while and come back.
    const code = (err as { code?: string }).code ?? "error";
    throw Object.assign(new Error(`cannot resolve host ${host}: ${code}`), { code: "dns_lookup_failed" });
  }
}

/** `[::1]` → `::1`, lower-cased, trailing dot dropped. */
export function bareHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/** The name of the refused range an IP address lies in, or undefined when it may be fetched. */
export function refusedRange(address: string): string | undefined {
  const family = isIP(address);
  if (family === 4) return refusedV4(parseV4(address)!);
  if (family === 6) {
    const bytes = parseV6(address);
    return bytes ? refusedV6(bytes) : "an unparseable IPv6 address";
  }
  return "not an IP address";
}

type V4Range = [base: number, prefix: number, name: string];
const V4_RANGES: V4Range[] = [
  [ip4("0.0.0.0"), 8, "unspecified (0.0.0.0/8)"],
  [ip4("10.0.0.0"), 8, "private (10.0.0.0/8)"],
  [ip4("100.64.0.0"), 10, "carrier-grade NAT (100.64.0.0/10)"],
  [ip4("127.0.0.0"), 8, "loopback (127.0.0.0/8)"],
  [ip4("169.254.0.0"), 16, "link-local (169.254.0.0/16)"],
  [ip4("172.16.0.0"), 12, "private (172.16.0.0/12)"],
  [ip4("192.0.0.0"), 24, "IETF protocol assignments (192.0.0.0/24)"],
  [ip4("192.168.0.0"), 16, "private (192.168.0.0/16)"],
  [ip4("198.18.0.0"), 15, "benchmarking (198.18.0.0/15)"],
  [ip4("224.0.0.0"), 4, "multicast (224.0.0.0/4)"],
  [ip4("240.0.0.0"), 4, "reserved (240.0.0.0/4)"],
];

function refusedV4(n: number): string | undefined {
  for (const [base, prefix, name] of V4_RANGES) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    if (((n & mask) >>> 0) === base) return name;
  }
  return undefined;
}

function refusedV6(b: Uint8Array): string | undefined {
  const zeros = (from: number, to: number) => b.subarray(from, to).every((x) => x === 0);
  const v4At12 = () => ((b[12]! << 24) | (b[13]! << 16) | (b[14]! << 8) | b[15]!) >>> 0;
  if (zeros(0, 16)) return "unspecified (::)";
  if (zeros(0, 15) && b[15] === 1) return "loopback (::1)";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) embed an IPv4 address.
  const mapped = zeros(0, 10) && b[10] === 0xff && b[11] === 0xff;
  const compatible = zeros(0, 12);
  const nat64 = b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12);
  if (mapped || compatible || nat64) {
    const inner = refusedV4(v4At12());
    if (inner) return `${inner}, embedded in IPv6 ${mapped ? "as IPv4-mapped" : nat64 ? "via NAT64" : "as IPv4-compatible"}`;
    return undefined;
  }
  if ((b[0]! & 0xfe) === 0xfc) return "unique-local (fc00::/7)";
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return "link-local (fe80::/10)";
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return "site-local (fec0::/10)";
  if (b[0] === 0xff) return "multicast (ff00::/8)";
  return undefined;
}

function ip4(s: string): number {
  return parseV4(s)!;
}

function parseV4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n >>> 0;
}

function parseV6(input: string): Uint8Array | undefined {
  let s = input.toLowerCase();
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  const groups: number[] = [];
  const parseGroups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (i === pieces.length - 1 && p.includes(".")) {
        const v4 = parseV4(p);
        if (v4 === undefined) return undefined;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else if (/^[0-9a-f]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 0) return undefined;
  groups.push(...head, ...new Array<number>(fill).fill(0), ...tail);
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}
