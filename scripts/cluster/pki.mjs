// A throw-away PKI for the local control plane, made with openssl: one CA, the API server's serving
// certificate, a client certificate per component and the service-account key pair. RBAC needs no
// set-up for these identities: the bootstrap roles bind system:masters (admin, kwok),
// system:kube-controller-manager and system:kube-scheduler.
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

// Clients and the certificates they present (subject = CN, and O for the group).
export const CLIENT_IDENTITIES = {
  admin: "/O=system:masters/CN=jetq-admin",
  "kube-controller-manager": "/CN=system:kube-controller-manager",
  "kube-scheduler": "/CN=system:kube-scheduler",
  // kwok plays every fake node's kubelet; a node identity per fake node would need the Node
  // authorizer and a certificate per node, for no gain in a dev cluster.
  kwok: "/O=system:masters/CN=jetq-kwok",
};

// The first address of --service-cluster-ip-range: in-cluster clients reach the API server there.
export const SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16";
const KUBERNETES_SERVICE_IP = "10.96.0.1";

const DAYS = "3650";
// P-256 keys: generated in milliseconds where RSA takes a good part of a second each on a busy
// machine; every component accepts ECDSA certificates and ES256 service-account tokens.
const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];

async function openssl(args, cwd) {
  try {
    await execFileAsync("openssl", args, { cwd, timeout: 60_000 });
  } catch (err) {
    if (err.code === "ENOENT") throw new Error("openssl is not installed: the cluster scripts need it to make certificates");
    throw new Error(`openssl ${args[0]} failed: ${(err.stderr || err.message).trim()}`);
  }
}

async function signedCertificate(dir, name, subject, extensions) {
  const extFile = join(dir, `${name}.ext`);
  writeFileSync(extFile, extensions.join("\n") + "\n");
  await openssl(["req", "-new", ...NEW_KEY, "-nodes", "-keyout", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], dir);
  await openssl(
    ["x509", "-req", "-sha256", "-days", DAYS, "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-extfile", extFile, "-out", `${name}.crt`],
    dir,
  );
  rmSync(join(dir, `${name}.csr`), { force: true });
  rmSync(extFile, { force: true });
  return { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
}

/** Creates every key and certificate under `dir`; returns their paths. */
export async function createPki(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  await openssl(
    ["req", "-x509", ...NEW_KEY, "-nodes", "-sha256", "-days", DAYS, "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=jetq-local-cluster-ca",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
    dir,
  );
  const serving = await signedCertificate(dir, "kube-apiserver", "/CN=kube-apiserver", [
    "basicConstraints=CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "extendedKeyUsage=serverAuth",
    `subjectAltName=IP:127.0.0.1,IP:${KUBERNETES_SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local`,
  ]);
  const clients = {};
  for (const [name, subject] of Object.entries(CLIENT_IDENTITIES)) {
    clients[name] = await signedCertificate(dir, `client-${name}`, subject, [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth",
    ]);
  }
  // Service-account tokens: the API server signs with the private key and verifies with the public
  // one; the controller manager signs the tokens of the controllers' own service accounts.
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "sa.key"], dir);
  await openssl(["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
  return {
    ca: { cert: join(dir, "ca.crt"), key: join(dir, "ca.key") },
    serving,
    clients,
    serviceAccount: { privateKey: join(dir, "sa.key"), publicKey: join(dir, "sa.pub") },
  };
}
