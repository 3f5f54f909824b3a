// Kubeconfig files for the local control plane. JSON is valid YAML, so kubectl, client-go and
// @kubernetes/client-node read these without a YAML writer here.
import { readFileSync, renameSync, writeFileSync } from "node:fs";

/**
 * Writes a kubeconfig for one client certificate. `embed` puts the certificates inside the file
 * (the user-facing one, so it can be copied elsewhere); the components' own refer to the files.
 */
export function writeKubeconfig(file, { server, caFile, certFile, keyFile, user, embed = false }) {
  const cluster = embed
    ? { server, "certificate-authority-data": readFileSync(caFile).toString("base64") }
    : { server, "certificate-authority": caFile };
  const credentials = embed
    ? {
        "client-certificate-data": readFileSync(certFile).toString("base64"),
        "client-key-data": readFileSync(keyFile).toString("base64"),
      }
    : { "client-certificate": certFile, "client-key": keyFile };
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "jetq-local", cluster }],
    users: [{ name: user, user: credentials }],
    contexts: [{ name: "jetq-local", context: { cluster: "jetq-local", user, namespace: "default" } }],
    "current-context": "jetq-local",
    preferences: {},
  };
  writeFileSync(`${file}.tmp`, JSON.stringify(config, null, 2) + "\n", { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return file;
}
