// kwok's lifecycle rules (Stage objects). The plain kwok binary exits with "no stages found"
// without them (kwokctl injects them), so they are taken from the kwok module source, the same set
// kwokctl uses by default (kustomize/stage/fast), and written into the cache as one config file.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { KWOK_VERSION } from "./config.mjs";
import { moduleDir } from "./go-tool.mjs";

const UPSTREAM_STAGES = [
  "node/fast/node-initialize.yaml",
  "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
  "pod/fast/pod-ready.yaml",
  "pod/fast/pod-complete.yaml",
  "pod/fast/pod-delete.yaml",
];

// The stock pod-complete stage only completes pods owned by a Job; a bare pod with
// `restartPolicy: Never` (a `helm test` hook, a one-off `kubectl run --restart=Never`) would stay
// Running for ever. This one completes those, exit code 0, like the stock stage does for Jobs.
const BARE_POD_COMPLETE_STAGE = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete-bare-restart-never
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.spec.restartPolicy'
      operator: 'In'
      values:
      - 'Never'
    - key: '.metadata.ownerReferences'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      {{ $now := Now }}
      containerStatuses:
      {{ range $index, $item := .spec.containers }}
      - image: {{ $item.image | Quote }}
        name: {{ $item.name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            finishedAt: {{ $now | Quote }}
            reason: Completed
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
`;

/** Writes the stages file once (atomically); returns its path. */
export async function ensureKwokStages(stagesFile) {
  if (existsSync(stagesFile)) return stagesFile;
  const kwok = await moduleDir("sigs.k8s.io/kwok", KWOK_VERSION, dirname(stagesFile));
  const documents = UPSTREAM_STAGES.map((file) =>
    `# from sigs.k8s.io/kwok ${KWOK_VERSION} kustomize/stage/${file}\n` +
    readFileSync(join(kwok.dir, "kustomize", "stage", file), "utf8").trim(),
  );
  documents.push(`# jetq: completes bare restartPolicy: Never pods\n${BARE_POD_COMPLETE_STAGE.trim()}`);
  writeFileSync(`${stagesFile}.tmp`, documents.join("\n---\n") + "\n");
  renameSync(`${stagesFile}.tmp`, stagesFile);
  return stagesFile;
}
