// A minimal HTTPS client for the local API server (Node builtins only, so `cluster:up` works before
// any npm package is installed): readiness probes and the few objects `up` creates.
import { readFileSync } from "node:fs";
import { request } from "node:https";

export function kubeApiClient({ server, caFile, certFile, keyFile }) {
  const tls = { ca: readFileSync(caFile), cert: readFileSync(certFile), key: readFileSync(keyFile) };
  const base = new URL(server);

  /** Resolves `{status, body}` (body parsed as JSON when it is JSON); rejects only on transport errors. */
  function call(method, path, body) {
    return new Promise((resolvePromise, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          ...tls,
          host: base.hostname,
          port: base.port,
          method,
          path,
          timeout: 10_000,
          headers: { accept: "application/json", ...(payload ? { "content-type": "application/json" } : {}) },
        },
        (res) => {
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              // plain-text answers (/readyz) stay text
            }
            resolvePromise({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      if (payload) req.write(payload);
      req.end();
    });
  }

  return { call };
}
