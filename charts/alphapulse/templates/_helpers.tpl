{{/* Names ------------------------------------------------------------------------------------- */}}
{{- define "alphapulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "alphapulse.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels: standard app.kubernetes.io set; selectors use only the immutable subset. -------------- */}}
{{- define "alphapulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "alphapulse.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "alphapulse.labels" -}}
{{ include "alphapulse.selectorLabels" . }}
app.kubernetes.io/part-of: alphapulse
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The one image --------------------------------------------------------------------------- */}}
{{- define "alphapulse.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "alphapulse.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Prometheus scrape annotations for a pod template; . = dict root port */}}
{{- define "alphapulse.scrapeAnnotations" -}}
{{- if .root.Values.monitoring.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}

{{/* Secrets and connection strings ------------------------------------------------------------ */}}
{{- define "alphapulse.secretName" -}}
{{- default (printf "%s-secrets" (include "alphapulse.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "alphapulse.bundledDatabase" -}}
{{- if not .Values.database.external.existingSecret }}true{{ end -}}
{{- end -}}

{{- define "alphapulse.bundledRedis" -}}
{{- if not .Values.redis.external.existingSecret }}true{{ end -}}
{{- end -}}

{{- define "alphapulse.relayService" -}}
{{- printf "%s-relay.%s.svc" (include "alphapulse.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* DATABASE_URL (and the password it is built from) as container env entries */}}
{{- define "alphapulse.databaseEnv" -}}
{{- if include "alphapulse.bundledDatabase" . }}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "alphapulse.secretName" . }}, key: postgres-password}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(POSTGRES_PASSWORD)@%s-timescaledb:5432/%s" .Values.database.timescaledb.user (include "alphapulse.fullname" .) .Values.database.timescaledb.database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.database.external.existingSecret }}, key: {{ .Values.database.external.key }}}
{{- end }}
{{- end -}}

{{- define "alphapulse.redisEnv" -}}
{{- if include "alphapulse.bundledRedis" . }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "alphapulse.secretName" . }}, key: redis-password}
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379/0" (include "alphapulse.fullname" .) | quote }}
{{- else }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.external.existingSecret }}, key: {{ .Values.redis.external.key }}}
{{- end }}
{{- end -}}

{{- define "alphapulse.secretEnv" -}}
- name: ALPHAPULSE_BRIDGE_SECRET
  valueFrom:
    secretKeyRef: {name: {{ include "alphapulse.secretName" . }}, key: bridge-secret}
{{- end -}}

{{/* Shared pod pieces ------------------------------------------------------------------------ */}}
{{- define "alphapulse.tmpVolume" -}}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- end -}}

{{- define "alphapulse.httpProbes" -}}
readinessProbe:
  httpGet: {path: {{ .ready | default "/healthz" }}, port: http}
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 3
livenessProbe:
  httpGet: {path: {{ .live | default "/healthz" }}, port: http}
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 2
  failureThreshold: 6
{{- end -}}
