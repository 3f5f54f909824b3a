// Where the API listens, said plainly: whether other machines can reach it.
import ipaddr from "ipaddr.js";

/** True for an address (or `localhost`) that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (!ipaddr.isValid(h)) return false;
  return ipaddr.process(h).range() === "loopback";
}

/** "http://127.0.0.1:8080 (this machine only; …)" or "… (reachable from other hosts)". */
export function describeListenAddress(host: string, port: number): string {
  const shown = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  const url = `http://${shown}:${port}`;
  return isLoopbackHost(host) ? `${url} (this machine only; set HOST=0.0.0.0 to open it to other hosts)` : `${url} (reachable from other hosts: HOST=${host})`;
}
