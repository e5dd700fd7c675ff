{{/*
The image both the agent and the controller run.
*/}}
{{- define "meshlet.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/*
Labels of every object of a component: the same two as daemonset/ (no helm.sh/chart or
app.kubernetes.io/managed-by label, so that an install with Helm and one with kubectl apply -k
carry the same objects; Helm records its ownership in its own annotations).
*/}}
{{- define "meshlet.labels" -}}
app.kubernetes.io/name: {{ . }}
app.kubernetes.io/part-of: meshlet
{{- end }}

{{/*
The trust domain flag, when one is set (empty: the program's default, cluster.local).
*/}}
{{- define "meshlet.trustDomainArg" -}}
{{- if .Values.trustDomain }}
- --trust-domain={{ .Values.trustDomain }}
{{- end }}
{{- end }}

{{/*
Checks across values that values.schema.json cannot express, each failing with what to change.
*/}}
{{- define "meshlet.validate" -}}
{{- if and .Values.namespace.create (eq .Release.Namespace "meshlet-system") }}
{{- fail "namespace.create is true but the release is installed in meshlet-system: Helm would own a namespace that must exist before the release does. Install the release in another namespace (helm install meshlet charts/meshlet), or set namespace.create=false and label the namespace yourself (docs/install.md)" }}
{{- end }}
{{- end }}
