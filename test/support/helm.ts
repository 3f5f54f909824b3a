// Helm for the chart tests: the binary scripts/test.mjs exports as HELM_BIN (scripts/tools/helm.mjs
// builds it once), and helpers that render charts/jetq into parsed objects.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "./cluster.js";

export const CHART_DIR = join(REPO_ROOT, "charts", "jetq");

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A Kubernetes object as rendered (loosely typed: tests look into any field). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

/** HELM_BIN, or an error saying how to get it (never a silent skip). */
export function helmBin(): string {
  const bin = process.env.HELM_BIN;
  if (!bin) throw new Error("HELM_BIN is not set: run the tests through `npm test` (scripts/test.mjs builds helm v3.22.0 into ~/.cache/jetq/bin), or export HELM_BIN=<path to helm>");
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(`HELM_BIN=${bin} is not an executable file`);
  }
  return bin;
}

/** Runs helm; resolves with its exit code and output whatever the code. */
export async function helm(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(helmBin(), args, { maxBuffer: 32 << 20, timeout: opts.timeoutMs ?? 120_000, env: { ...process.env, ...opts.env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? e.message };
  }
}

/** `helm template` of the chart with `--set`/`--set-string`-style args; throws with helm's message on failure. */
export async function renderChart(extraArgs: string[] = [], release = "jetq", namespace = "jetq"): Promise<K8sObject[]> {
  const r = await helm(["template", release, CHART_DIR, "--namespace", namespace, ...extraArgs]);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}): ${r.stderr}`);
  return parseObjects(r.stdout);
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o && typeof o === "object" && "kind" in o);
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} among: ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(", ")}`);
  return o;
}

export function kinds(objects: K8sObject[]): string[] {
  return objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
}

/** A container's env as a name → value map (valueFrom entries as "<secret|field>:<ref>"). */
export function envOf(container: { env?: Array<{ name: string; value?: string; valueFrom?: any }> }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of container.env ?? []) {
    if (e.valueFrom?.secretKeyRef) out[e.name] = `secret:${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}`;
    else if (e.valueFrom?.fieldRef) out[e.name] = `field:${e.valueFrom.fieldRef.fieldPath}`;
    else out[e.name] = e.value ?? "";
  }
  return out;
}
