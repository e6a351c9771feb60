{{/* The chart's name (nameOverride). */}}
{{- define "kdns.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Object names: fullnameOverride, else the release name when it contains the chart's name, else RELEASE-kdns. */}}
{{- define "kdns.fullname" -}}
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

{{/* The k8s-app label of the cluster DNS pods: kube-dns, so an existing kube-dns Service selects them. */}}
{{- define "kdns.k8sapplabel" -}}
{{- default "kube-dns" .Values.k8sAppLabelOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "kdns.commonLabels" -}}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
helm.sh/chart: "{{ .Chart.Name }}-{{ .Chart.Version | replace "+" "_" }}"
{{- with .Values.customLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of the cluster role's objects. */}}
{{- define "kdns.labels" -}}
{{ include "kdns.commonLabels" . }}
{{- if .Values.isClusterService }}
k8s-app: {{ include "kdns.k8sapplabel" . }}
kubernetes.io/cluster-service: "true"
kubernetes.io/name: "CoreDNS"
{{- end }}
app.kubernetes.io/name: {{ include "kdns.name" . }}
{{- end -}}

{{/* The cluster role's pod selector (Deployment, Services, PDB, ServiceMonitor). */}}
{{- define "kdns.selectorLabels" -}}
{{- if .Values.isClusterService -}}
k8s-app: {{ include "kdns.k8sapplabel" . }}
{{ end -}}
app.kubernetes.io/name: {{ include "kdns.name" . }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}

{{/* customAnnotations, as a block under `annotations:` (empty when none). */}}
{{- define "kdns.customAnnotations" -}}
{{- with .Values.customAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kdns.deploymentName" -}}
{{- default (include "kdns.fullname" .) .Values.deployment.name -}}
{{- end -}}

{{- define "kdns.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kdns.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kdns.clusterRoleName" -}}
{{- default (printf "system:%s" (include "kdns.fullname" .)) .Values.clusterRole.nameOverride -}}
{{- end -}}

{{- define "kdns.image" -}}
{{- printf "%s:%s" .repository (toString .tag) -}}
{{- end -}}

{{/*
The Corefile from `servers` (and `extraConfig`), laid out as the CoreDNS chart lays it out:
each server is its zones (scheme + zone, "." by default), each with ":port" (the CoreDNS chart
puts the port on the last zone only), then its plugins, each
"name parameters" with an optional { configBlock }.
*/}}
{{- define "kdns.corefile" -}}
{{- range $name, $conf := .Values.extraConfig }}
{{ $name }}{{ if $conf.parameters }} {{ $conf.parameters }}{{ end }}
{{- end }}
{{- range .Values.servers }}
{{ $port := .port }}{{ range $i, $z := .zones }}{{ if $i }} {{ end }}{{ default "" $z.scheme }}{{ default "." $z.zone }}{{ if $port }}:{{ $port }}{{ end }}{{ else }}.{{ if $port }}:{{ $port }}{{ end }}{{ end }} {
{{- range .plugins }}
    {{ .name }}{{ if .parameters }} {{ .parameters }}{{ end }}{{ if .configBlock }} {
{{ .configBlock | trim | indent 8 }}
    }{{ end }}
{{- end }}
}
{{- end }}
{{- end -}}

{{/*
The cluster role's ports from `servers`: "PORT": {"udp": bool, "tcp": bool, "servicePort": N,
"nodePort": N} as JSON. dns:// (or no scheme) is UDP, plus TCP with use_tcp; tls:// grpc://
https:// are TCP only.
*/}}
{{- define "kdns.dnsPorts" -}}
{{- $ports := dict -}}
{{- range .Values.servers -}}
{{- $port := toString (default 53 .port) -}}
{{- $p := get $ports $port | default (dict "udp" false "tcp" false "servicePort" (default .port .servicePort | default 53)) -}}
{{- range .zones -}}
{{- if has (default "" .scheme) (list "" "dns://") -}}
{{- $_ := set $p "udp" true -}}
{{- if .use_tcp }}{{ $_ := set $p "tcp" true }}{{ end -}}
{{- else -}}
{{- $_ := set $p "tcp" true -}}
{{- end -}}
{{- end -}}
{{- if not (or $p.udp $p.tcp) }}{{ $_ := set $p "udp" true }}{{ end -}}
{{- if .nodePort }}{{ $_ := set $p "nodePort" .nodePort }}{{ end -}}
{{- $_ := set $ports $port $p -}}
{{- end -}}
{{- toJson $ports -}}
{{- end -}}

{{/* The metrics port: the port of the first `prometheus` plugin in `servers` (9153 by default). */}}
{{- define "kdns.metricsPort" -}}
{{- $port := "" -}}
{{- range .Values.servers -}}
{{- range .plugins -}}
{{- if and (eq .name "prometheus") (not $port) -}}
{{- $port = last (splitList ":" (toString (default ":9153" .parameters))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- default "9153" $port -}}
{{- end -}}
