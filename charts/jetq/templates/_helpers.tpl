{{/* Names, labels and the environment every program reads. */}}

{{- define "jetq.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jetq.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's name: <fullname>-<component>. Call with (list $ "api"). */}}
{{- define "jetq.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "jetq.fullname" $root | trunc 50 | trimSuffix "-") (index . 1) -}}
{{- end -}}

{{- define "jetq.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "jetq.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "jetq.labels" -}}
{{- $root := index . 0 -}}
{{ include "jetq.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: jetq
{{- end -}}

{{- define "jetq.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "jetq.operatorServiceAccount" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{- default (include "jetq.componentName" (list . "operator")) .Values.operator.serviceAccount.name -}}
{{- else -}}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The NATS URL the programs use: the external cluster's, else the chart's StatefulSet's. */}}
{{- define "jetq.natsUrl" -}}
{{- if .Values.nats.external.url -}}
{{- .Values.nats.external.url -}}
{{- else -}}
{{- printf "nats://%s:4222" (include "jetq.componentName" (list . "nats")) -}}
{{- end -}}
{{- end -}}

{{/* JETQ_REPLICAS: follows the chart's NATS size (capped at JetStream's useful 3), unless given. */}}
{{- define "jetq.streamReplicas" -}}
{{- if not (kindIs "invalid" .Values.nats.streamReplicas) -}}
{{- .Values.nats.streamReplicas | int -}}
{{- else if .Values.nats.external.url -}}
1
{{- else -}}
{{- min (.Values.nats.replicas | int) 3 -}}
{{- end -}}
{{- end -}}

{{/*
Env entries from a dict of NAME → value, in name order, leaving out null and empty values (the
program's default then applies). Numbers are printed as integers: YAML numbers reach templates
as floats, and 1073741824 would otherwise become "1.073741824e+09".
*/}}
{{- define "jetq.envValues" -}}
{{- range $name, $value := . }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "") }}
- name: {{ $name }}
  value: {{ if kindIs "float64" $value }}{{ $value | int64 | toString | quote }}{{ else }}{{ $value | toString | quote }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* An env entry from an existing Secret's key, when the Secret is named. Call with (list NAME ref). */}}
{{- define "jetq.envSecret" -}}
{{- $ref := index . 1 -}}
{{- if $ref.name }}
- name: {{ index . 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* The kernel's settings: every program. */}}
{{- define "jetq.kernelEnv" -}}
{{- $c := .Values.config -}}
{{- include "jetq.envValues" (dict
  "NATS_URL" (include "jetq.natsUrl" .)
  "JETQ_REPLICAS" (include "jetq.streamReplicas" .)
  "JETQ_DATA_DIR" "/var/lib/jetq"
  "LOG_LEVEL" $c.logLevel
  "JETQ_MAX_DELIVER" $c.maxDeliver
  "JETQ_ACK_WAIT_MS" $c.ackWaitMs
  "JETQ_DUPLICATE_WINDOW_MS" $c.duplicateWindowMs
  "JETQ_FINISHED_TTL_S" $c.finishedTtlSeconds
  "JETQ_DLQ_MAX_AGE_S" $c.dlqMaxAgeSeconds
  "JETQ_TASK_LOG_LINES" $c.taskLogLines
  "JETQ_TASK_LOGS_MAX_MB" $c.taskLogsMaxMb
  "JETQ_POOL" $c.pool
  "JETQ_DEFAULT_TIMEOUT_S" $c.defaultTimeoutSeconds
  "JETQ_FAIR_SHARE_QUEUED" $c.fairShareQueued
  "JETQ_TENANT_MAX_QUEUED" $c.tenantMaxQueued
) }}
{{- end -}}

{{/* The document pipeline's settings: api and workers. */}}
{{- define "jetq.documentsEnv" -}}
{{- $d := .Values.documents -}}
{{- include "jetq.envValues" (dict
  "JETQ_CHUNK_SIZE" $d.chunkSize
  "JETQ_CHUNK_OVERLAP" $d.chunkOverlap
  "JETQ_EMBED_BATCH" $d.embedBatch
  "JETQ_LEXICAL_DIMENSIONS" $d.lexicalDimensions
  "OPENAI_BASE_URL" $d.openai.baseUrl
  "JETQ_EMBEDDING_MODEL" $d.openai.embeddingModel
  "JETQ_EMBEDDING_DIMENSIONS" $d.openai.embeddingDimensions
  "JETQ_QUIZ_MODEL" $d.openai.quizModel
  "JETQ_LLM_MAX_RETRIES" $d.openai.maxRetries
  "QDRANT_URL" $d.qdrant.url
  "QDRANT_COLLECTION" $d.qdrant.collection
  "JETQ_VECTOR_INDEX_MIN_ROWS" $d.vectorIndex.minRows
  "JETQ_VECTOR_INDEX_TAIL_ROWS" $d.vectorIndex.tailRows
  "JETQ_VECTOR_NPROBES" $d.vectorIndex.nprobes
  "JETQ_VECTOR_REFINE_FACTOR" $d.vectorIndex.refineFactor
  "JETQ_VECTOR_INDEX_BITS" $d.vectorIndex.bits
  "JETQ_SOURCES_ROOT" $d.sources.root
  "JETQ_SOURCES_ALLOW_PRIVATE" $d.sources.allowPrivate
  "JETQ_SOURCES_ALLOWED_HOSTS" (join "," $d.sources.allowedHosts)
  "JETQ_SOURCES_MAX_BYTES" $d.sources.maxBytes
  "JETQ_SOURCES_TIMEOUT_MS" $d.sources.timeoutMs
  "JETQ_SYNC_SCHEDULER_MS" $d.sources.syncSchedulerMs
  "JETQ_DOC_MAX_PAGES" $d.limits.maxPages
  "JETQ_DOC_MAX_CHARACTERS" $d.limits.maxCharacters
  "JETQ_DOC_MAX_CHUNKS" $d.limits.maxChunks
  "JETQ_DOC_MAX_PART_BYTES" $d.limits.maxPartBytes
  "JETQ_DOC_MAX_INFLATED_BYTES" $d.limits.maxInflatedBytes
  "JETQ_DOC_MAX_ARCHIVE_ENTRIES" $d.limits.maxArchiveEntries
  "JETQ_DOC_MAX_COMPRESSION_RATIO" $d.limits.maxCompressionRatio
  "JETQ_DOC_MAX_PART_SECONDS" $d.limits.maxPartSeconds
  "JETQ_DOC_PARSER_HEAP_MB" $d.parser.heapMb
  "JETQ_DOC_PARSER_THREADS" $d.parser.threads
) }}
{{- include "jetq.envSecret" (list "OPENAI_API_KEY" $d.openai.apiKeySecret) }}
{{- include "jetq.envSecret" (list "QDRANT_API_KEY" $d.qdrant.apiKeySecret) }}
{{- end -}}

{{/* Prometheus scrape annotations for a pod. Call with (list $ port). */}}
{{- define "jetq.scrapeAnnotations" -}}
{{- $root := index . 0 -}}
{{- if $root.Values.metrics.scrapeAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ index . 1 | int | toString | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* The writable places of a read-only root filesystem: the data dir and /tmp. Call with a component's values. */}}
{{- define "jetq.writableVolumes" -}}
- name: data
  {{- if .dataVolume }}
  {{- toYaml .dataVolume | nindent 2 }}
  {{- else }}
  emptyDir: {}
  {{- end }}
- name: tmp
  emptyDir: {}
{{- with .extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "jetq.writableMounts" -}}
- name: data
  mountPath: /var/lib/jetq
- name: tmp
  mountPath: /tmp
{{- with .extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The pod-level scheduling fields of a component. */}}
{{- define "jetq.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The Secret with a program's NATS user and password: the one named in nats.auth.<program>, else the
chart's own (nats-credentials.yaml), else none (an external NATS without one named). Call with
(list $ "api").
*/}}
{{- define "jetq.natsSecretName" -}}
{{- $root := index . 0 -}}
{{- $program := index . 1 -}}
{{- $ref := index $root.Values.nats.auth $program -}}
{{- if $ref.existingSecret -}}
{{- $ref.existingSecret -}}
{{- else if not $root.Values.nats.external.url -}}
{{- include "jetq.componentName" (list $root (printf "nats-%s" $program)) -}}
{{- end -}}
{{- end -}}

{{/* NATS_USER and NATS_PASSWORD of a program, from its Secret. Call with (list $ "api"). */}}
{{- define "jetq.natsCredentialsEnv" -}}
{{- $secret := include "jetq.natsSecretName" . -}}
{{- if $secret }}
{{- include "jetq.envSecret" (list "NATS_USER" (dict "name" $secret "key" "user")) }}
{{- include "jetq.envSecret" (list "NATS_PASSWORD" (dict "name" $secret "key" "password")) }}
{{- end }}
{{- end -}}
