{{- define "mboa.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mboa.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "api") */}}
{{- define "mboa.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mboa.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "mboa.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "mboa.fullname" .)) -}}
{{- end -}}

{{- define "mboa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "mboa.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{/* Whether to render the Prometheus operator's objects. */}}
{{- define "mboa.prometheusOperator" -}}
{{- $mode := toString .Values.monitoring.prometheusOperator -}}
{{- if or (eq $mode "true") (and (eq $mode "auto") (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}
true
{{- end -}}
{{- end -}}

{{/* The Secret's keys the processes read, as a JSON list of {"name", "optional"}: secrets.keys,
MBOA_MAIL__PASSWORD when mail.username is set, the S3 keys when storage.s3.credentials is
"secret", then secrets.optionalKeys. */}}
{{- define "mboa.secretKeys" -}}
{{- $keys := list -}}
{{- range .Values.secrets.keys -}}
{{- $keys = append $keys (dict "name" . "optional" false) -}}
{{- end -}}
{{- if .Values.mail.username -}}
{{- $keys = append $keys (dict "name" "MBOA_MAIL__PASSWORD" "optional" false) -}}
{{- end -}}
{{- if and (eq .Values.storage.backend "s3") (eq .Values.storage.s3.credentials "secret") -}}
{{- $keys = append $keys (dict "name" "MBOA_STORAGE__S3_ACCESS_KEY_ID" "optional" false) -}}
{{- $keys = append $keys (dict "name" "MBOA_STORAGE__S3_SECRET_ACCESS_KEY" "optional" false) -}}
{{- end -}}
{{- range .Values.secrets.optionalKeys -}}
{{- $keys = append $keys (dict "name" . "optional" true) -}}
{{- end -}}
{{- toJson $keys -}}
{{- end -}}

{{/* The ConfigMap's data: what the chart derives from its values, then `config:` (which wins).
Also refuses what cannot work. */}}
{{- define "mboa.configData" -}}
{{- if and .Values.simulator.enabled (eq .Values.environment "production") }}
{{- fail "simulator.enabled is for sandbox environments: it cannot run with environment=production" }}
{{- end }}
{{- if not (has .Values.storage.s3.credentials (list "iam" "secret")) }}
{{- fail "storage.s3.credentials is iam or secret" }}
{{- end }}
{{- $data := dict
  "MBOA_ENV" .Values.environment
  "MBOA_DEPLOYMENT" .Values.deployment
  "MBOA_API__PUBLIC_URL" .Values.publicUrl
  "MBOA_API__HOST" "0.0.0.0"
  "MBOA_API__PORT" .Values.api.port
  "MBOA_API__DRAIN_SECONDS" .Values.api.drainSeconds
  "MBOA_API__GRACEFUL_SHUTDOWN_SECONDS" .Values.api.gracefulShutdownSeconds
  "MBOA_WORKER__SHUTDOWN_GRACE_SECONDS" .Values.worker.shutdownGraceSeconds
  "MBOA_METRICS__HOST" "0.0.0.0"
  "MBOA_METRICS__PORT" .Values.metrics.apiPort
  "MBOA_METRICS__WORKER_PORT" .Values.metrics.workerPort
  "MBOA_RELEASE" (.Values.image.tag | default .Chart.AppVersion)
  "MBOA_STORAGE__BACKEND" .Values.storage.backend
}}
{{- if .Values.mail.host }}
{{- $_ := set $data "MBOA_MAIL__HOST" .Values.mail.host }}
{{- $_ := set $data "MBOA_MAIL__PORT" .Values.mail.port }}
{{- $_ := set $data "MBOA_MAIL__SECURITY" .Values.mail.security }}
{{- end }}
{{- with .Values.mail.username }}
{{- $_ := set $data "MBOA_MAIL__USERNAME" . }}
{{- end }}
{{- with .Values.mail.fromAddress }}
{{- $_ := set $data "MBOA_MAIL__FROM_ADDRESS" . }}
{{- end }}
{{- if eq .Values.storage.backend "s3" }}
{{- $s3 := .Values.storage.s3 }}
{{- $_ := set $data "MBOA_STORAGE__S3_BUCKET" (required "storage.s3.bucket is required with storage.backend=s3" $s3.bucket) }}
{{- $_ := set $data "MBOA_STORAGE__S3_REGION" (required "storage.s3.region is required with storage.backend=s3" $s3.region) }}
{{- with $s3.endpointUrl }}
{{- $_ := set $data "MBOA_STORAGE__S3_ENDPOINT_URL" . }}
{{- end }}
{{- $_ := set $data "MBOA_STORAGE__S3_PATH_STYLE" $s3.pathStyle }}
{{- end }}
{{- if .Values.simulator.enabled }}
{{- /* The adapters talk to this release's simulators; the MTN simulator's preset API user
accepts callbacks to the public URL's host, where the application sends them. */}}
{{- $simulator := printf "http://%s-simulator" (include "mboa.fullname" .) }}
{{- $_ := set $data "MBOA_PROVIDERS__MTN_MOMO__BASE_URL" (printf "%s:%v" $simulator .Values.simulator.mtnPort) }}
{{- $_ := set $data "MBOA_PROVIDERS__ORANGE_MONEY__BASE_URL" (printf "%s:%v" $simulator .Values.simulator.orangePort) }}
{{- $_ := set $data "MBOA_PROVIDERS__ORANGE_MONEY__WEBPAY__BASE_URL" (printf "%s:%v" $simulator .Values.simulator.orangePort) }}
{{- $_ := set $data "MBOA_PROVIDERS__SIMULATOR__MTN_CALLBACK_HOST" (urlParse .Values.publicUrl).hostname }}
{{- end }}
{{- $data = mergeOverwrite $data .Values.config }}
{{- if eq .Values.environment "production" }}
{{- if eq (toString $data.MBOA_STORAGE__BACKEND) "filesystem" }}
{{- fail "environment=production needs storage.backend=s3: with filesystem, files stay in one pod's /tmp and vanish with it (docs/deploy.md §3)" }}
{{- end }}
{{- if not $data.MBOA_MAIL__HOST }}
{{- fail "environment=production needs mail.host (the SMTP server; docs/deploy.md §2)" }}
{{- end }}
{{- end }}
{{- range $key, $value := $data }}
{{ $key }}: {{ toString $value | quote }}
{{- end }}
{{- end -}}

{{/* The Secret's data (the chart-made Secret, dev only). */}}
{{- define "mboa.secretData" -}}
{{- range $key := include "mboa.secretKeys" . | fromJsonArray }}
{{- $value := index $.Values.secrets.values $key.name }}
{{- if $value }}
{{ $key.name }}: {{ $value | quote }}
{{- else if not $key.optional }}
{{- fail (printf "secrets.values.%s is required when secrets.existingSecret is empty" $key.name) }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Environment of a container: (dict "root" $ "configMap" name "secret" name). */}}
{{- define "mboa.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ .configMap }}
env:
{{- range include "mboa.secretKeys" .root | fromJsonArray }}
  - name: {{ .name }}
    valueFrom:
      secretKeyRef:
        name: {{ $.secret }}
        key: {{ .name }}
        optional: {{ .optional }}
{{- end }}
{{- end -}}

{{/* Environment shared by every Deployment's container: the release's ConfigMap and Secret. */}}
{{- define "mboa.env" -}}
{{- include "mboa.envFrom" (dict "root" . "configMap" (printf "%s-config" (include "mboa.fullname" .)) "secret" (include "mboa.secretName" .)) }}
{{- end -}}

{{- define "mboa.podSpecCommon" -}}
serviceAccountName: {{ include "mboa.serviceAccountName" . }}
{{ include "mboa.podSpecBase" . }}
{{- end -}}

{{/* A pod's spec but its ServiceAccount. */}}
{{- define "mboa.podSpecBase" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}

{{- define "mboa.containerCommon" -}}
image: {{ include "mboa.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Roll the pods when configuration changes. */}}
{{- define "mboa.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}
