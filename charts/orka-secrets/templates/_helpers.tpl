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
