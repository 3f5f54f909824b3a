// A new inbox under the connection's own prefix (the `inboxPrefix` connect option): with NATS
// credentials each user may only subscribe to its own prefix (kernel/nats-permissions.ts), so
// every hand-made reply subject must use it, as the client's own requests do.
import { createInbox, type NatsConnection } from "@nats-io/transport-node";

export function connectionInbox(nc: NatsConnection): string {
  // The client keeps its connect options on the connection; the interface does not declare them.
  const prefix = (nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
  return createInbox(prefix);
}
