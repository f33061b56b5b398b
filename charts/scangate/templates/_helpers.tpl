{{- define "scangate.fullname" -}}
{{- printf "%s" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "scangate.labels" -}}
app.kubernetes.io/name: scangate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}
{{- define "scangate.selector" -}}
app.kubernetes.io/name: scangate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- define "scangate.serviceName" -}}{{ include "scangate.fullname" . }}{{- end -}}
{{- define "scangate.tlsSecret" -}}{{ include "scangate.fullname" . }}-tls{{- end -}}
{{/* One CA + serving cert per release, reused across upgrades via lookup. */}}
{{- define "scangate.tls" -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace (include "scangate.tlsSecret" .) -}}
{{- if and $secret $secret.data -}}
{{- dict "ca" (index $secret.data "ca.crt") "crt" (index $secret.data "tls.crt") "key" (index $secret.data "tls.key") | toJson -}}
{{- else -}}
{{- $svc := include "scangate.serviceName" . -}}
{{- $ca := genCA "scangate-ca" 3650 -}}
{{- $cert := genSignedCert (printf "%s.%s.svc" $svc .Release.Namespace) nil (list (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace)) 3650 $ca -}}
{{- dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) | toJson -}}
{{- end -}}
{{- end -}}
{{- define "scangate.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        - {{ .Release.Namespace }}
        - kube-system
        {{- range .Values.webhook.excludeNamespaces }}
        - {{ . }}
        {{- end }}
    - key: scangate.dev/ignore
      operator: NotIn
      values: ["true"]
{{- end -}}
{{/* Out-of-cluster mode: scangate runs elsewhere and webhook.url reaches it.
Empty when scangate runs in the cluster (Deployment, Service, TLS here). */}}
{{- define "scangate.externalUrl" -}}
{{- with .Values.webhook.url -}}
{{- if $.Values.certManager.enabled -}}
{{- fail "webhook.url (scangate outside the cluster) and certManager.enabled exclude each other: cert-manager issues the in-cluster Service's certificate" -}}
{{- end -}}
{{- trimSuffix "/" . -}}
{{- end -}}
{{- end -}}
{{/* The webhook's clientConfig for PATH: the in-cluster Service with the
generated CA (TLS is the CA's base64 PEM), or the external URL with
webhook.caBundlePem. */}}
{{- define "scangate.clientConfig" -}}
{{- $url := include "scangate.externalUrl" .root -}}
clientConfig:
{{- if $url }}
  url: {{ printf "%s%s" $url .path | quote }}
  {{- with .root.Values.webhook.caBundlePem }}
  caBundle: {{ b64enc . }}
  {{- end }}
{{- else }}
  service:
    name: {{ include "scangate.serviceName" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- if not .root.Values.certManager.enabled }}
  caBundle: {{ .tls.ca }}
  {{- end }}
{{- end }}
{{- end -}}
