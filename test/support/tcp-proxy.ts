// A TCP forwarder between a client and a server on loopback, for tests that break the connection
// under a client: cut() drops every connection and refuses new ones (until reopen()), freeze()
// keeps connections open but silently discards what they carry (a stuck load balancer), thaw()
// lets new connections through again while the frozen ones stay frozen. TLS passes through as is.
import net from "node:net";

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  cut(): Promise<void>;
  reopen(): Promise<void>;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const live = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let frozen = false;
  let connections = 0;
  const discard = (s: net.Socket) => {
    s.removeAllListeners("data");
    s.on("data", () => {});
    s.resume();
  };
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = net.createServer((client) => {
    connections++;
    track(client);
    if (frozen) {
      discard(client);
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    track(upstream);
    const pair = { client, upstream };
    live.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      live.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const stopListening = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

  return {
    port,
    get connections() {
      return connections;
    },
    async cut() {
      const closed = stopListening();
      for (const s of sockets) s.destroy();
      await closed;
    },
    reopen: () => listen(port),
    freeze() {
      frozen = true;
      for (const { client, upstream } of live) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        discard(client);
        discard(upstream);
      }
      live.clear();
    },
    thaw() {
      frozen = false;
    },
    async close() {
      const closed = stopListening();
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
