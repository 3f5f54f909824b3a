// The source address policy (library/source-safety.ts): every special-purpose range of the IANA IPv4
// and IPv6 registries refused, IPv6 forms that carry an IPv4 address judged by that address, this
// machine's own addresses refused, local names refused, and what the API can tell without DNS.
// Nothing here connects anywhere or resolves a name.
import { describe, expect, it } from "vitest";
import {
  directoryRefusal,
  interfaceAddresses,
  localName,
  nonGlobalRange,
  ownInterface,
  refusedAddress,
  sourceRefusals,
  STRICTEST_SOURCE_POLICY,
  urlRefusal,
  type OwnAddresses,
  type SourcePolicy,
} from "../../library/source-safety.js";

const noOwnAddresses: OwnAddresses = () => [];

// address → the words the refusal must contain, or null for an address that may be fetched.
const IPV4: Array<[string, RegExp | null]> = [
  ["0.0.0.0", /unspecified \(0\.0\.0\.0\/8\)/],
  ["0.1.2.3", /unspecified/],
  ["10.0.0.1", /private \(10\.0\.0\.0\/8\)/],
  ["100.64.0.1", /carrier-grade NAT \(100\.64\.0\.0\/10\)/],
  ["100.127.255.255", /carrier-grade NAT/],
  ["127.0.0.1", /loopback \(127\.0\.0\.0\/8\)/],
  ["127.255.255.254", /loopback/],
  ["169.254.169.254", /link-local \(169\.254\.0\.0\/16\)/],
  ["172.16.0.1", /private \(172\.16\.0\.0\/12\)/],
  ["172.31.255.255", /private/],
  ["192.0.0.8", /IETF protocol assignments \(192\.0\.0\.0\/24\)/],
  ["192.0.0.170", /IETF protocol assignments/],
  ["192.0.2.2", /documentation, TEST-NET-1 \(192\.0\.2\.0\/24\)/],
  ["192.31.196.1", /AS112/],
  ["192.52.193.1", /AMT/],
  ["192.88.99.1", /6to4 relay anycast \(192\.88\.99\.0\/24\)/],
  ["192.168.1.1", /private \(192\.168\.0\.0\/16\)/],
  ["192.175.48.1", /AS112/],
  ["198.18.0.1", /benchmarking \(198\.18\.0\.0\/15\)/],
  ["198.19.255.255", /benchmarking/],
  ["198.51.100.7", /documentation, TEST-NET-2 \(198\.51\.100\.0\/24\)/],
  ["203.0.113.9", /documentation, TEST-NET-3 \(203\.0\.113\.0\/24\)/],
  ["224.0.0.251", /multicast \(224\.0\.0\.0\/4\)/],
  ["239.255.255.250", /multicast/],
  ["240.0.0.1", /reserved for future use \(240\.0\.0\.0\/4\)/],
  ["254.1.2.3", /reserved for future use/],
  ["255.255.255.255", /broadcast/],
  // Just outside the ranges: globally routable.
  ["8.8.8.8", null],
  ["93.184.216.34", null],
  ["100.128.0.1", null],
  ["172.32.0.1", null],
  ["192.0.3.1", null],
  ["198.20.0.1", null],
  ["223.255.255.255", null],
];

const IPV6: Array<[string, RegExp | null]> = [
  ["::", /unspecified \(::\/128\)/],
  ["::1", /loopback \(::1\/128\)/],
  ["fe80::1", /link-local \(fe80::\/10\)/],
  ["fe80::1%eth0", /link-local/],
  ["fec0::1", /site-local/],
  ["fc00::1", /unique-local \(fc00::\/7\)/],
  ["fd12:3456::1", /unique-local/],
  ["ff02::1", /multicast \(ff00::\/8\)/],
  ["100::1", /discard-only \(100::\/64\)/],
  ["2001:db8::1", /documentation \(2001:db8::\/32\)/],
  ["3fff::1", /documentation \(3fff::\/20\)/],
  ["2001:2::1", /benchmarking \(2001:2::\/48\)/],
  ["2001:3::1", /AMT/],
  ["2001:4:112::1", /AS112/],
  ["2001:10::1", /ORCHID/],
  ["2001:20::1", /ORCHIDv2/],
  ["2001:30::1", /drone remote ID/],
  ["2001:1::1", /IETF protocol assignments \(2001::\/23\)/],
  ["5f00::1", /SRv6/],
  ["64:ff9b:1::808:808", /NAT64 local-use \(64:ff9b:1::\/48\)/],
  ["::ffff:0:a00:1", /IPv4-translated/],
  // Space IANA never allocated for global unicast (ipaddr.js calls it "unicast").
  ["4000::1", /not global unicast \(outside 2000::\/3\)/],
  ["e000::1", /not global unicast/],
  // IPv4 carried in IPv6: judged by the IPv4 address.
  ["::ffff:127.0.0.1", /loopback \(127\.0\.0\.0\/8\), embedded in IPv6 as IPv4-mapped/],
  ["::ffff:7f00:1", /loopback.*IPv4-mapped/],
  ["::ffff:169.254.169.254", /link-local.*IPv4-mapped/],
  ["::ffff:192.0.2.2", /documentation.*IPv4-mapped/],
  ["::ffff:8.8.8.8", null],
  ["64:ff9b::10.0.0.1", /private \(10\.0\.0\.0\/8\), embedded in IPv6 via NAT64/],
  ["64:ff9b::a9fe:a9fe", /link-local.*NAT64/],
  ["64:ff9b::808:808", null],
  ["::7f00:1", /loopback.*IPv4-compatible/],
  ["::808:808", /IPv4-compatible.*deprecated/],
  ["2002:c0a8:0101::1", /6to4 \(2002::\/16\), a tunnel to 192\.168\.1\.1 \[private/],
  ["2002:7f00:0001::1", /6to4.*127\.0\.0\.1 \[loopback/],
  ["2002:0808:0808::1", /6to4/], // a deprecated tunnel, refused whatever it carries
  ["2001:0:4136:e378:8000:63bf:3fff:fdd2", /Teredo \(2001::\/32\).*to 192\.0\.2\.45 \[documentation/],
  ["2001:0:0a00:0001::1", /Teredo.*through 10\.0\.0\.1 \[private/],
  // Global unicast.
  ["2606:4700:4700::1111", null],
  ["2001:4860:4860::8888", null],
  ["2a00:1450:4001::1", null],
];

describe("address ranges", () => {
  it.each(IPV4)("IPv4 %s", (address, expected) => {
    const why = refusedAddress(address, noOwnAddresses);
    if (expected) expect(why).toMatch(expected);
    else expect(why).toBeUndefined();
  });

  it.each(IPV6)("IPv6 %s", (address, expected) => {
    const why = refusedAddress(address, noOwnAddresses);
    if (expected) expect(why).toMatch(expected);
    else expect(why).toBeUndefined();
  });

  it("refuses what is not a canonical IP address", () => {
    for (const s of ["", "example.org", "127.1", "0x7f.0.0.1", "2130706433", "1.2.3.4.5", "::g"]) expect(nonGlobalRange(s)).toBe("not an IP address");
  });
});

describe("this machine's own addresses", () => {
  it("refuses every address of every interface of this machine", () => {
    const own = interfaceAddresses();
    expect(own.length).toBeGreaterThan(0);
    for (const { address, name } of own) {
      expect(refusedAddress(address), address).toBeDefined();
      expect(ownInterface(address), address).toBe(name);
    }
  });

  it("refuses the host's own address even when it is globally routable, in IPv4 and IPv6 forms", () => {
    // As on a server whose eth0 has a public address: the address ranges alone would let it through.
    const own: OwnAddresses = () => [
      { address: "93.184.216.34", name: "eth0" },
      { address: "2606:2800:220:1::1", name: "eth0" },
    ];
    expect(refusedAddress("93.184.216.34", noOwnAddresses)).toBeUndefined();
    for (const address of ["93.184.216.34", "::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2606:2800:220:1::1", "2606:2800:0220:0001:0:0:0:1"]) {
      expect(refusedAddress(address, own), address).toBe("this machine's own address (interface eth0)");
    }
    expect(refusedAddress("93.184.216.35", own)).toBeUndefined();
  });
});

describe("local names", () => {
  it.each([
    ["localhost", /this machine/],
    ["LOCALHOST.", /this machine/],
    ["api.localhost", /this machine/],
    ["printer.local", /multicast DNS/],
    ["router.home.arpa", /home network/],
    ["metadata.google.internal", /private-use/],
  ])("%s is local", (host, what) => expect(localName(host)).toMatch(what));

  it.each(["example.org", "localhost.example.org", "mylocal", "internal.example.com"])("%s is not", (host) => expect(localName(host)).toBeUndefined());
});

describe("what the API refuses at registration (no DNS)", () => {
  const policy = (over: Partial<SourcePolicy> = {}): SourcePolicy => ({ ...STRICTEST_SOURCE_POLICY, ...over });

  it("refuses literal non-global addresses and local names, saying which setting allows them", () => {
    for (const url of ["http://127.0.0.1:8080/metrics", "http://127.1/", "http://2130706433/", "http://[::1]/", "http://[::ffff:10.0.0.1]/", "http://192.0.2.2/", "http://localhost:8080/", "http://x.localhost/"]) {
      const refusal = urlRefusal(url, policy(), noOwnAddresses);
      expect(refusal, url).toMatchObject({ code: "address_refused" });
      expect(refusal!.message).toMatch(/JETQ_SOURCES_ALLOW_PRIVATE.*JETQ_SOURCES_ALLOWED_HOSTS/);
    }
    // A name is not resolved here: the worker's guard resolves it and vets every address.
    expect(urlRefusal("https://example.org/book.html", policy(), noOwnAddresses)).toBeUndefined();
    expect(urlRefusal("https://93.184.216.34/book.html", policy(), noOwnAddresses)).toBeUndefined();
    expect(urlRefusal("http://93.184.216.34/", policy(), () => [{ address: "93.184.216.34", name: "eth0" }])?.message).toMatch(/own address/);
    expect(urlRefusal("ftp://example.org/", policy())).toMatchObject({ code: "address_refused" });
    expect(urlRefusal("not a url", policy())).toMatchObject({ code: "invalid_url" });
  });

  it("keeps the escape hatches", () => {
    expect(urlRefusal("http://127.0.0.1/", policy({ allowPrivateAddresses: true }))).toBeUndefined();
    expect(urlRefusal("http://localhost/", policy({ allowPrivateAddresses: true }))).toBeUndefined();
    expect(urlRefusal("http://127.0.0.1:9/", policy({ allowedHosts: ["127.0.0.1"] }))).toBeUndefined();
    expect(urlRefusal("http://[::1]/", policy({ allowedHosts: ["[::1]"] }))).toBeUndefined();
    expect(urlRefusal("http://localhost/", policy({ allowedHosts: ["localhost"] }))).toBeUndefined();
    expect(urlRefusal("http://10.0.0.1/", policy({ allowedHosts: ["127.0.0.1"] }))).toMatchObject({ code: "address_refused" });
  });

  it("refuses directories without a root, or outside it", () => {
    expect(directoryRefusal("/srv/books", policy())).toMatchObject({ code: "directory_not_allowed", message: expect.stringMatching(/JETQ_SOURCES_ROOT/) });
    const root = policy({ directoryRoot: "/srv/books" });
    expect(directoryRefusal("/srv/books", root)).toBeUndefined();
    expect(directoryRefusal("/srv/books/library", root)).toBeUndefined();
    expect(directoryRefusal("library/sub", root)).toBeUndefined();
    for (const p of ["/srv", "/srv/books-other", "/etc", "../other", "library/../../other"]) {
      expect(directoryRefusal(p, root), p).toMatchObject({ code: "directory_not_allowed", message: expect.stringMatching(/outside the sources root/) });
    }
  });

  it("names every refused URL of a source by its index", () => {
    const refusals = sourceRefusals({ kind: "http", urls: ["https://example.org/a", "http://127.0.0.1/b", "http://[fd00::1]/c"] }, policy(), noOwnAddresses);
    expect(refusals.map((r) => r.path)).toEqual(["urls.1", "urls.2"]);
    expect(sourceRefusals({ kind: "directory", path: "x" }, policy())).toEqual([expect.objectContaining({ path: "path", code: "directory_not_allowed" })]);
  });
});
