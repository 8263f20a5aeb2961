{{/* The chart's name, or nameOverride. */}}
{{- define "orka.name" -}}{{ .Values.nameOverride | default "orka-secrets" | trunc 40 | trimSuffix "-" }}{{- end }}
{{/*
The prefix of every object name: fullnameOverride, else the release name when it already says
the chart's name, else <release>-<name>. At most 40 characters, so "<fullname>-operator" and the
other suffixes stay within the 63 of a label value and a Service name.
*/}}
{{- define "orka.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{ .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else -}}
{{- $name := include "orka.name" . -}}
{{- if contains $name .Release.Name -}}
{{ .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else -}}
{{ printf "%s-%s" (.Release.Name | trunc (int (sub 39 (len $name)))) $name | trimSuffix "-" }}
{{- end -}}
{{- end -}}
{{- end }}
{{/* The Service sidecars and the apiserver call: <fullname>-operator.<namespace>.svc. */}}
{{- define "orka.serviceName" -}}{{ include "orka.fullname" . }}-operator{{- end }}
{{/* The operator's ServiceAccount: made by the chart, or given (serviceAccount.name). */}}
{{- define "orka.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}{{ .Values.serviceAccount.name | default (include "orka.fullname" .) }}{{- else -}}{{ required "serviceAccount.name is required when serviceAccount.create=false" .Values.serviceAccount.name }}{{- end -}}
{{- end }}
{{- define "orka.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end }}
{{- define "orka.sidecarImage" -}}{{ .Values.sidecar.image.repository | default .Values.image.repository }}:{{ .Values.sidecar.image.tag | default (.Values.image.tag | default .Chart.AppVersion) }}{{- end }}
{{- define "orka.labels" -}}
app.kubernetes.io/name: {{ include "orka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: orka-secrets-{{ .Chart.Version }}
{{- end }}
{{- define "orka.selector" -}}
app.kubernetes.io/name: {{ include "orka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}
{{/* The DNS names of the Service, which the serving certificate must carry. */}}
{{- define "orka.dnsNames" -}}
{{ include "orka.serviceName" . }}.{{ .Release.Namespace }}.svc,{{ include "orka.serviceName" . }}.{{ .Release.Namespace }}.svc.cluster.local
{{- end }}
{{/* Every name of the serving certificate: the DNS names and the Service's fixed IP. */}}
{{- define "orka.servingHosts" -}}
{{ include "orka.dnsNames" . }}{{ with .Values.service.clusterIP }},{{ . }}{{ end }}
{{- end }}
{{/*
The sidecar's securityContext as JSON (ORKA_SIDECAR_SECURITY_CONTEXT): sidecar.securityContext,
with sidecar.runAsUser as user and group, or neither where it is "platform" (OpenShift assigns them).
*/}}
{{- define "orka.sidecarSecurityContext" -}}
{{- $ctx := deepCopy .Values.sidecar.securityContext -}}
{{- if ne (toString .Values.sidecar.runAsUser) "platform" -}}
{{- $_ := set $ctx "runAsUser" (int64 .Values.sidecar.runAsUser) -}}
{{- $_ := set $ctx "runAsGroup" (int64 .Values.sidecar.runAsUser) -}}
{{- end -}}
{{- toJson $ctx -}}
{{- end }}
{{/* A duration value (250ms, 30s, 1h30m, 90d, or bare seconds) in seconds, to compare two of them. */}}
{{- define "orka.seconds" -}}
{{- if regexMatch "^[0-9.]+$" . -}}
{{- . | float64 -}}
{{- else -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 "d" 86400.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9.]+[a-zµ]+" . -1 -}}
{{- $total = addf $total (mulf (regexFind "^[0-9.]+" . | float64) (get $units (regexFind "[a-zµ]+$" .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}
{{- end }}
{{/*
What the schema cannot say because it compares two values, checked as the operator checks it at
start (src/operator/config.ts), so that an install fails instead of a pod that exits.
*/}}
{{- define "orka.checks" -}}
{{- with .Values.operator.listeners -}}
{{- if gt (include "orka.seconds" .headersTimeout | float64) (include "orka.seconds" .requestTimeout | float64) -}}
{{- fail "operator.listeners.headersTimeout must not be longer than operator.listeners.requestTimeout" -}}
{{- end -}}
{{- end -}}
{{- with .Values.service -}}
{{- if or (eq (int .port) (int .webhookPort)) (eq (int .port) (int .metricsPort)) (eq (int .webhookPort) (int .metricsPort)) -}}
{{- fail "service.port, service.webhookPort and service.metricsPort must differ: each listener needs its own port" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.networkPolicy.enabled (not .Values.networkPolicy.apiserver) -}}
{{- fail "networkPolicy.apiserver: name the addresses your apiserver calls webhooks from (docs/install.md, Network policy), or [{ipBlock: {cidr: 0.0.0.0/0}}, {ipBlock: {cidr: \"::/0\"}}] to allow any address knowingly" -}}
{{- end -}}
{{- end }}
