// What a source may point at (SSRF and path-escape policy), decided by the same rules when a
// source is registered (api/) and when it is fetched (worker/sources/). Only globally routable
// addresses may be fetched: never loopback, private, link-local, documentation, benchmarking,
// reserved or any other special-purpose range, nor this machine's own interface addresses, unless
// the settings trust them. Directories must lie inside the sources root. The API checks literal
// addresses and local names only (it never resolves DNS); the worker checks every address a name
// resolves to and stays the authority.
import { isIP } from "node:net";
import { networkInterfaces } from "node:os";
import path from "node:path";
import ipaddr from "ipaddr.js";

/** The sources settings the policy needs (config.documents.sources has them). */
export interface SourcePolicy {
  /** JETQ_SOURCES_ALLOW_PRIVATE: trust every address, however local. */
  allowPrivateAddresses: boolean;
  /** JETQ_SOURCES_ALLOWED_HOSTS: hosts (names or IPs) trusted whatever they resolve to. */
  allowedHosts: string[];
  /** JETQ_SOURCES_ROOT: directory sources must lie under it; empty: none allowed. */
  directoryRoot: string;
}

export type SourceRefusalCode = "invalid_url" | "address_refused" | "directory_not_allowed";

/** Why a source may not be used, with the field it concerns (`urls.0`, `path`). */
export interface SourceRefusal {
  path: string;
  code: SourceRefusalCode;
  message: string;
}

/** This machine's interface addresses, with the interface each belongs to. */
export type OwnAddresses = () => Array<{ address: string; name: string }>;

/** Read on every check, not cached: addresses come and go (DHCP, VPNs, containers). */
export const interfaceAddresses: OwnAddresses = () =>
  Object.entries(networkInterfaces()).flatMap(([name, list]) => (list ?? []).map((i) => ({ address: i.address, name })));

/** `[::1]` → `::1`, lower-cased, trailing dot dropped. */
export function bareHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/** Trusted hosts skip every address check (the settings' escape hatches). */
export function isTrustedHost(host: string, policy: Pick<SourcePolicy, "allowPrivateAddresses" | "allowedHosts">): boolean {
  const bare = bareHost(host);
  return policy.allowPrivateAddresses || policy.allowedHosts.some((h) => bareHost(h) === bare);
}

const howToAllow = (host: string) => `set JETQ_SOURCES_ALLOW_PRIVATE=true, or add ${host} to JETQ_SOURCES_ALLOWED_HOSTS, to allow it`;

// ---------------------------------------------------------------------------------------------
// Address ranges. ipaddr.js names the IANA special-purpose ranges; checked against the IPv4 and
// IPv6 Special-Purpose Address Registries, it has them all. What it lacks is a rule for IPv6
// space IANA never allocated: it calls `::7f00:1` (IPv4-compatible) or `4000::1` "unicast". Only
// 2000::/3 is global unicast, so everything outside it is refused here.

type AnyIp = ipaddr.IPv4 | ipaddr.IPv6;
type RangeEntry = [AnyIp, number];
type RangeList = Record<string, RangeEntry | RangeEntry[]>;

const LABELS: Record<string, string> = {
  unspecified: "unspecified",
  broadcast: "broadcast",
  multicast: "multicast",
  linkLocal: "link-local",
  loopback: "loopback",
  carrierGradeNat: "carrier-grade NAT",
  private: "private",
  reserved: "reserved",
  as112: "AS112 DNS anycast",
  as112v6: "AS112 DNS anycast",
  amt: "AMT relay anycast",
  benchmarking: "benchmarking",
  uniqueLocal: "unique-local",
  deprecatedSiteLocal: "deprecated site-local",
  discard: "discard-only",
  rfc6145: "IPv4-translated (RFC 6145)",
  rfc6052: "NAT64 local-use",
  deprecatedOrchid: "deprecated ORCHID",
  orchid2: "ORCHIDv2",
  droneRemoteIdProtocolEntityTags: "drone remote ID tags",
  segmentRouting: "SRv6 segment identifiers",
};

// Where a range's name alone says too little, the block it matched says more.
const BLOCK_LABELS: Record<string, string> = {
  "192.0.0.0/24": "IETF protocol assignments",
  "192.0.2.0/24": "documentation, TEST-NET-1",
  "198.51.100.0/24": "documentation, TEST-NET-2",
  "203.0.113.0/24": "documentation, TEST-NET-3",
  "192.88.99.0/24": "deprecated 6to4 relay anycast",
  "198.18.0.0/15": "benchmarking",
  "240.0.0.0/4": "reserved for future use",
  "2001::/23": "IETF protocol assignments",
  "2001:db8::/32": "documentation",
  "3fff::/20": "documentation",
};

const specialRanges = (ip: AnyIp): RangeList => (Object.getPrototypeOf(ip) as { SpecialRanges: RangeList }).SpecialRanges;

/** "private (10.0.0.0/8)": the label of the named range and the block of it the address is in. */
function rangeLabel(ip: AnyIp, name: string): string {
  const entry = specialRanges(ip)[name];
  const blocks: RangeEntry[] = !entry ? [] : Array.isArray(entry[0]) ? (entry as RangeEntry[]) : [entry as RangeEntry];
  const block = blocks.find(([base, bits]) => ip.match(base, bits));
  const cidr = block ? `${block[0].toString()}/${block[1]}` : undefined;
  const label = (cidr && BLOCK_LABELS[cidr]) ?? LABELS[name] ?? name;
  return cidr ? `${label} (${cidr})` : label;
}

const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");
const IPV4_COMPATIBLE = ipaddr.parseCIDR("::/96");

const v4FromBits = (hi: number, lo: number) => new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);

function parseAddress(address: string): AnyIp | undefined {
  const bare = bareHost(address).replace(/%.*$/, ""); // a zone id (fe80::1%eth0) says nothing about the range
  if (!isIP(bare)) return undefined; // only canonical literals: ipaddr alone would also accept "127.1"
  try {
    return ipaddr.parse(bare);
  } catch {
    return undefined;
  }
}

function v4Refusal(ip: ipaddr.IPv4): string | undefined {
  const name = ip.range();
  return name === "unicast" ? undefined : rangeLabel(ip, name);
}

/** The IPv4 address an IPv6 form carries to, and how, for the forms that reach IPv4 hosts. */
function embeddedV4(ip: ipaddr.IPv6): { v4: ipaddr.IPv4; via: string } | undefined {
  const p = ip.parts;
  if (ip.isIPv4MappedAddress()) return { v4: ip.toIPv4Address(), via: "as IPv4-mapped" };
  if (ip.match(NAT64_WELL_KNOWN)) return { v4: v4FromBits(p[6]!, p[7]!), via: "via NAT64 (64:ff9b::/96)" };
  if (ip.match(IPV4_COMPATIBLE)) return { v4: v4FromBits(p[6]!, p[7]!), via: "as IPv4-compatible (::/96, deprecated)" };
  return undefined;
}

function v6Refusal(ip: ipaddr.IPv6): string | undefined {
  const name = ip.range();
  if (name === "unspecified" || name === "loopback") return rangeLabel(ip, name);
  const embedded = embeddedV4(ip);
  if (embedded) {
    const inner = v4Refusal(embedded.v4);
    if (inner) return `${inner}, embedded in IPv6 ${embedded.via}`;
    // Only NAT64's well-known prefix is globally reachable; the deprecated forms never are.
    return name === "ipv4Mapped" || name === "rfc6052" ? undefined : `IPv4-compatible (::/96, deprecated), for ${embedded.v4.toString()}`;
  }
  const p = ip.parts;
  // Tunnels to IPv4 (RFC 3056, RFC 4380): deprecated, and they can carry a private address.
  if (name === "6to4") {
    const v4 = v4FromBits(p[1]!, p[2]!);
    return `6to4 (2002::/16), a tunnel to ${v4.toString()}${tunnelNote(v4)}`;
  }
  if (name === "teredo") {
    const server = v4FromBits(p[2]!, p[3]!);
    const client = v4FromBits(p[6]! ^ 0xffff, p[7]! ^ 0xffff); // the client address is stored inverted
    return `Teredo (2001::/32), a tunnel through ${server.toString()}${tunnelNote(server)} to ${client.toString()}${tunnelNote(client)}`;
  }
  if (name !== "unicast") return rangeLabel(ip, name);
  if (!ip.match(GLOBAL_UNICAST_V6)) return "not global unicast (outside 2000::/3)";
  return undefined;
}

function tunnelNote(v4: ipaddr.IPv4): string {
  const inner = v4Refusal(v4);
  return inner ? ` [${inner}]` : "";
}

/**
 * The special-purpose range an IP address lies in ("loopback (127.0.0.0/8)"), or undefined when it
 * is globally routable. Not an IP address at all: refused too.
 */
export function nonGlobalRange(address: string): string | undefined {
  const ip = parseAddress(address);
  if (!ip) return "not an IP address";
  return ip.kind() === "ipv4" ? v4Refusal(ip as ipaddr.IPv4) : v6Refusal(ip as ipaddr.IPv6);
}

/** The interface name when the address (or the IPv4 address it carries) is one of this machine's. */
export function ownInterface(address: string, own: OwnAddresses = interfaceAddresses): string | undefined {
  const ip = parseAddress(address);
  if (!ip) return undefined;
  const candidates = [ip];
  if (ip.kind() === "ipv6") {
    const embedded = embeddedV4(ip as ipaddr.IPv6);
    if (embedded) candidates.push(embedded.v4);
  }
  const keys = new Set(candidates.map((c) => c.toNormalizedString()));
  for (const { address: mine, name } of own()) {
    const parsed = parseAddress(mine);
    if (parsed && keys.has(parsed.toNormalizedString())) return name;
  }
  return undefined;
}

/** Why an address may not be fetched from (a special range, or this machine's own), or undefined. */
export function refusedAddress(address: string, own: OwnAddresses = interfaceAddresses): string | undefined {
  const range = nonGlobalRange(address);
  if (range) return range;
  const iface = ownInterface(address, own);
  return iface ? `this machine's own address (interface ${iface})` : undefined;
}

// ---------------------------------------------------------------------------------------------
// Names that always mean this machine or a local network, whatever a resolver says of them.

const LOCAL_NAMES: Array<[suffix: string, what: string]> = [
  ["localhost", "a name for this machine (loopback, RFC 6761)"],
  ["local", "a multicast DNS name of the local network (.local, RFC 6762)"],
  ["home.arpa", "a home network name (.home.arpa, RFC 8375)"],
  ["internal", "a private-use name (.internal)"],
];

/** What a local-only host name is ("a name for this machine…"), or undefined for other names. */
export function localName(host: string): string | undefined {
  const h = bareHost(host);
  return LOCAL_NAMES.find(([suffix]) => h === suffix || h.endsWith(`.${suffix}`))?.[1];
}

// ---------------------------------------------------------------------------------------------
// Whole URLs and directories.

/** Parses a source URL: http(s) only. The refusal says why not. */
export function parseSourceUrl(input: string | URL, field = "url"): URL | SourceRefusal {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { path: field, code: "invalid_url", message: `not a valid URL: ${String(input).slice(0, 200)}` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { path: field, code: "address_refused", message: `refusing the ${url.protocol.slice(0, -1)} URL ${url.href}: only http and https sources are fetched` };
  }
  return url;
}

/** The refusal for one address a host has, or undefined when it may be fetched from. */
export function addressRefusal(host: string, address: string, own: OwnAddresses = interfaceAddresses, field = "url"): SourceRefusal | undefined {
  const why = refusedAddress(address, own);
  if (!why) return undefined;
  return { path: field, code: "address_refused", message: `refusing to fetch from ${host}: address ${address} is ${why}; ${howToAllow(host)}` };
}

/** The refusal for a local-only host name, or undefined. */
export function localNameRefusal(host: string, field = "url"): SourceRefusal | undefined {
  const what = localName(host);
  if (!what) return undefined;
  return { path: field, code: "address_refused", message: `refusing to fetch from ${host}: it is ${what}; ${howToAllow(host)}` };
}

/**
 * Everything about a URL that can be told without DNS: scheme, literal addresses, local names.
 * A name that resolves somewhere private passes here and is refused when it is fetched.
 */
export function urlRefusal(input: string | URL, policy: SourcePolicy, own: OwnAddresses = interfaceAddresses, field = "url"): SourceRefusal | undefined {
  const url = parseSourceUrl(input, field);
  if (!(url instanceof URL)) return url;
  const host = bareHost(url.hostname);
  if (isTrustedHost(host, policy)) return undefined;
  if (isIP(host)) return addressRefusal(host, host, own, field);
  return localNameRefusal(host, field);
}

/** Whether candidate is root or lies below it (both absolute, compared lexically). */
export function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * A directory source's path against the sources root, lexically (relative paths are taken from
 * the root). The worker also resolves symlinks, on its own filesystem, before it reads anything.
 */
export function directoryRefusal(sourcePath: string, policy: SourcePolicy, field = "path"): SourceRefusal | undefined {
  if (!policy.directoryRoot) {
    return { path: field, code: "directory_not_allowed", message: "directory sources are disabled: no sources root is configured; set JETQ_SOURCES_ROOT to the folder directory sources must lie in" };
  }
  const root = path.resolve(policy.directoryRoot);
  if (!isInside(root, path.resolve(root, sourcePath))) {
    return { path: field, code: "directory_not_allowed", message: `source directory ${sourcePath} lies outside the sources root (JETQ_SOURCES_ROOT)` };
  }
  return undefined;
}

export type SourceDefinition = { kind: "http"; urls: string[] } | { kind: "directory"; path: string };

/** Every reason a source definition may not be registered (empty: it may). */
export function sourceRefusals(def: SourceDefinition, policy: SourcePolicy, own: OwnAddresses = interfaceAddresses): SourceRefusal[] {
  if (def.kind === "directory") {
    const refusal = directoryRefusal(def.path, policy);
    return refusal ? [refusal] : [];
  }
  return def.urls.flatMap((u, i) => urlRefusal(u, policy, own, `urls.${i}`) ?? []);
}

/** The policy of the default settings: no private addresses, no trusted hosts, no directory sources. */
export const STRICTEST_SOURCE_POLICY: SourcePolicy = Object.freeze({ allowPrivateAddresses: false, allowedHosts: [], directoryRoot: "" });
