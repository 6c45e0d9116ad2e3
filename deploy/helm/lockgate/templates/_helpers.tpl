{{/* Names, labels and the pod shape every Lockgate component shares. */}}

{{- define "lockgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lockgate.fullname" -}}
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

{{/* A component's object name: <fullname>-<component>, within the 63-character limit. */}}
{{- define "lockgate.componentName" -}}
{{- printf "%s-%s" (include "lockgate.fullname" .root | trunc (int (sub 62 (len .component)))) .component | trimSuffix "-" }}
{{- end }}

{{- define "lockgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lockgate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "lockgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "lockgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: lockgate
{{- end }}

{{- define "lockgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lockgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lockgate.secretName" -}}
{{- default (include "lockgate.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "lockgate.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Celery queue prefix: the Settings default unless config sets LOCKGATE_QUEUE_PREFIX. */}}
{{- define "lockgate.queuePrefix" -}}
{{- default "lockgate" .Values.config.LOCKGATE_QUEUE_PREFIX }}
{{- end }}

{{/*
The Redis lists the workers consume, one per line. Celery's Redis transport keeps a queue
as a list named "<global_keyprefix><queue>": make_celery sets the prefix to "<prefix>:" and
the only queue to "<prefix>.tasks" (service/runs/queue.py). A test compares these names
with the queues the worker's Celery app really consumes.
*/}}
{{- define "lockgate.workerQueueLists" -}}
{{- $prefix := include "lockgate.queuePrefix" . }}
{{- printf "%s:%s.tasks" $prefix $prefix }}
{{- end }}

{{/*
A Deployment for one component. Called with (dict "root" $ "component" NAME "values" VALUES
"replicas" N-or-nil "strategy" STRATEGY-or-nil); replicas is nil when an autoscaler owns it.
*/}}
{{- define "lockgate.deployment" -}}
{{- $root := .root }}
{{- $v := .values -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "lockgate.componentName" . }}
  labels:
    {{- include "lockgate.labels" . | nindent 4 }}
spec:
  {{- if not (kindIs "invalid" .replicas) }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "lockgate.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        {{- if not $root.Values.secret.existingSecret }}
        checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
        {{- end }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "lockgate.labels" . | nindent 8 }}
        {{- if $root.Values.azureWorkloadIdentity.enabled }}
        azure.workload.identity/use: "true"
        {{- end }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "lockgate.podSpec" . | nindent 6 }}
{{- end }}

{{/* The pod spec shared by the Deployments and the migration Job. */}}
{{- define "lockgate.podSpec" -}}
{{- $root := .root }}
{{- $v := .values -}}
serviceAccountName: {{ include "lockgate.serviceAccountName" $root }}
automountServiceAccountToken: false
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $v.terminationGracePeriodSeconds }}
terminationGracePeriodSeconds: {{ . }}
{{- end }}
{{- with .restartPolicy }}
restartPolicy: {{ . }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "lockgate.image" $root }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args:
      {{- toYaml $v.args | nindent 6 }}
    {{- with .ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    envFrom:
      - configMapRef:
          name: {{ include "lockgate.fullname" $root }}
      - secretRef:
          name: {{ include "lockgate.secretName" $root }}
    {{- with (concat (.env | default list) ($v.extraEnv | default list)) }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- range $probe := list "startupProbe" "livenessProbe" "readinessProbe" }}
    {{- with (get $v $probe) }}
    {{ $probe }}:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- end }}
    resources:
      {{- toYaml $v.resources | nindent 6 }}
    securityContext:
      {{- toYaml $root.Values.securityContext | nindent 6 }}
    volumeMounts:
      - name: data
        mountPath: /home/lockgate/data
      - name: tmp
        mountPath: /tmp
volumes:
  - name: data
    emptyDir: {}
  - name: tmp
    emptyDir: {}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget for one component, when its values enable one. */}}
{{- define "lockgate.pdb" -}}
{{- with .values.podDisruptionBudget }}
{{- if .enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "lockgate.componentName" $ }}
  labels:
    {{- include "lockgate.labels" $ | nindent 4 }}
spec:
  {{- if hasKey . "minAvailable" }}
  minAvailable: {{ .minAvailable }}
  {{- else }}
  maxUnavailable: {{ .maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "lockgate.selectorLabels" $ | nindent 6 }}
{{- end }}
{{- end }}
{{- end }}
