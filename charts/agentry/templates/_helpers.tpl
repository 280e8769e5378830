{{/* The chart's name. */}}
{{- define "agentry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every object's name: the release name, plus the chart's unless it holds it. */}}
{{- define "agentry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agentry.operator.fullname" -}}
{{- printf "%s-operator" (include "agentry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agentry.recorder.fullname" -}}
{{- printf "%s-recorder" (include "agentry.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "agentry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "agentry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentry
{{- end }}

{{/* The labels selecting one component's pods; call with (dict "root" $ "component" "operator"). */}}
{{- define "agentry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentry.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "agentry.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "agentry.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "agentry.recorder.serviceAccountName" -}}
{{- if .Values.recorder.serviceAccount.create }}
{{- default (include "agentry.recorder.fullname" .) .Values.recorder.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.recorder.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference; call with (dict "image" .Values.x.image "root" $). */}}
{{- define "agentry.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) }}
{{- end }}

{{/* The restricted Pod Security Standard, pod level. */}}
{{- define "agentry.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The restricted Pod Security Standard, container level. */}}
{{- define "agentry.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The NATS URL from its Secret, as AGENTRY_NATS_URL. */}}
{{- define "agentry.natsUrlEnv" -}}
- name: AGENTRY_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.nats.existingSecret }}
      key: {{ .Values.nats.secretKey }}
{{- end }}

{{/*
The NATS identity files of a component (operator or recorder), mounted from nats.auth's Secret:
the environment naming them, the mount, and the volume (only the keys that component uses).
Called with (dict "root" $ "component" "operator").
*/}}
{{- define "agentry.natsAuthDir" -}}/var/run/secrets/agentry.dev/nats-auth{{- end }}
{{- define "agentry.natsAuthEnv" -}}
{{- $dir := include "agentry.natsAuthDir" .root }}
{{- if .root.Values.nats.auth.existingSecret }}
{{- if eq .component "operator" }}
- name: AGENTRY_NATS_CREDENTIALS_FILE
  value: {{ printf "%s/_operator.creds" $dir | quote }}
- name: AGENTRY_NATS_API_CREDENTIALS_FILE
  value: {{ printf "%s/_api.creds" $dir | quote }}
- name: AGENTRY_NATS_ACCOUNT_SIGNING_KEY_FILE
  value: {{ printf "%s/account-signing.seed" $dir | quote }}
- name: AGENTRY_NATS_ACCOUNT
  value: {{ required "nats.auth.account is required with nats.auth.existingSecret" .root.Values.nats.auth.account | quote }}
{{- else }}
- name: AGENTRY_NATS_CREDENTIALS_FILE
  value: {{ printf "%s/_recorder.creds" $dir | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- define "agentry.natsAuthMount" -}}
{{- if .root.Values.nats.auth.existingSecret }}
- name: nats-auth
  mountPath: {{ include "agentry.natsAuthDir" .root }}
  readOnly: true
{{- end }}
{{- end }}
{{- define "agentry.natsAuthVolume" -}}
{{- if .root.Values.nats.auth.existingSecret }}
- name: nats-auth
  secret:
    secretName: {{ .root.Values.nats.auth.existingSecret }}
    defaultMode: 0400
    items:
      {{- $keys := list "_recorder.creds" }}
      {{- if eq .component "operator" }}
      {{- $keys = list "_operator.creds" "_api.creds" "account-signing.seed" }}
      {{- end }}
      {{- range $keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end }}

{{/*
The namespaces where the operator reads Secrets, comma-separated: the listed ones, else the
release namespace; empty when it reads them cluster-wide.
*/}}
{{- define "agentry.secretNamespaces" -}}
{{- if not .Values.operator.secretsClusterWide -}}
{{- join "," (default (list .Release.Namespace) .Values.operator.secretNamespaces) -}}
{{- end -}}
{{- end }}
