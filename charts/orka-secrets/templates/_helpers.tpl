{{/* Names: the Service must be reachable as <service>.<namespace>.svc by sidecars. */}}
{{- define "orka.name" -}}orka-secrets{{- end }}
{{- define "orka.fullname" -}}{{ if contains "orka-secrets" .Release.Name }}{{ .Release.Name | trunc 40 | trimSuffix "-" }}{{ else }}{{ .Release.Name | trunc 27 | trimSuffix "-" }}-orka-secrets{{ end }}{{- end }}
{{- define "orka.serviceName" -}}{{ include "orka.fullname" . }}-operator{{- end }}
{{- define "orka.image" -}}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}{{- end }}
{{- define "orka.sidecarImage" -}}{{ .Values.sidecar.image.repository | default .Values.image.repository }}:{{ .Values.sidecar.image.tag | default (.Values.image.tag | default .Chart.AppVersion) }}{{- end }}
{{- define "orka.labels" -}}
app.kubernetes.io/name: orka-secrets
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: orka-secrets-{{ .Chart.Version }}
{{- end }}
{{- define "orka.selector" -}}
app.kubernetes.io/name: orka-secrets
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}
