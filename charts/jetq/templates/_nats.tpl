{{/* nats-server's configuration for the chart's StatefulSet. */}}
{{- define "jetq.natsConf" -}}
{{- $n := .Values.nats -}}
{{- $name := include "jetq.componentName" (list . "nats") -}}
{{- $replicas := $n.replicas | int -}}
port: 4222
http_port: 8222
server_name: $POD_NAME
pid_file: /var/run/nats/nats.pid
lame_duck_duration: 30s
lame_duck_grace_period: 10s
# A user per program with the subjects it needs (files/nats-permissions.json is
# kernel/nats-permissions.ts, checked by test/unit/chart-render.test.ts); no anonymous clients.
# Passwords come from each program's Secret through the container's environment.
{{- $perms := $.Files.Get "files/nats-permissions.json" | fromJson }}
authorization {
  users = [
    {{- range $program := list "api" "worker" "operator" }}
    {user: {{ $program | quote }}, password: ${{ include "jetq.natsPasswordVar" $program }}, permissions: {{ index $perms $program | toRawJson }}}
    {{- end }}
  ]
}
jetstream {
  store_dir: /data
  max_memory_store: {{ $n.jetstream.maxMemory }}
  max_file_store: {{ $n.jetstream.maxFile }}
}
{{- if gt $replicas 1 }}
cluster {
  name: {{ $name }}
  port: 6222
  routes: [
    {{- range $i := until $replicas }}
    nats://{{ $name }}-{{ $i }}.{{ $name }}-headless.{{ $.Release.Namespace }}.svc:6222
    {{- end }}
  ]
  connect_retries: 120
}
{{- end }}
{{- end -}}


{{/* The nats container's variable with a program's password. */}}
{{- define "jetq.natsPasswordVar" -}}
{{- printf "JETQ_NATS_%s_PASSWORD" (upper .) -}}
{{- end -}}
