{{/* Names: <release>-scorecast, or the release name alone when it already says scorecast. */}}
{{- define "scorecast.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A Kubernetes name from a scorecast name (models and streams may hold _ and .). */}}
{{- define "scorecast.dns" -}}
{{- . | lower | replace "_" "-" | replace "." "-" -}}
{{- end -}}

{{- define "scorecast.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "scorecast.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "scorecast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "scorecast.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Every pod's SCORECAST_* settings (the ConfigMap's data; the init hook gets them inline). */}}
{{- define "scorecast.settingsData" -}}
# Kafka and Cassandra run elsewhere: scorecast only connects to them
SCORECAST_INFRA_BACKEND: external
SCORECAST_KAFKA_BOOTSTRAP: {{ .Values.kafka.bootstrap | quote }}
SCORECAST_KAFKA_SECURITY_PROTOCOL: {{ .Values.kafka.securityProtocol | quote }}
SCORECAST_KAFKA_SASL_MECHANISM: {{ .Values.kafka.saslMechanism | quote }}
SCORECAST_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
SCORECAST_TOPIC_PARTITIONS: {{ .Values.kafka.partitions | quote }}
SCORECAST_TOPIC_REPLICATION: {{ .Values.kafka.replication | quote }}
SCORECAST_CASSANDRA_HOSTS: {{ join "," .Values.cassandra.hosts | quote }}
SCORECAST_CASSANDRA_PORT: {{ .Values.cassandra.port | quote }}
SCORECAST_CASSANDRA_LOCAL_DC: {{ .Values.cassandra.localDc | quote }}
SCORECAST_KEYSPACE: {{ .Values.cassandra.keyspace | quote }}
SCORECAST_KEYSPACE_REPLICATION: {{ .Values.cassandra.replication | quote }}
SCORECAST_MODEL_STORE: {{ .Values.modelStore.mountPath | quote }}
# Workers serve /metrics on the pod's address, for the kubelet's probes and the ServiceMonitor
SCORECAST_METRICS_HOST: "0.0.0.0"
{{- with .Values.schemaRegistryUrl }}
SCORECAST_SCHEMA_REGISTRY_URL: {{ . | quote }}
{{- end }}
{{- include "scorecast.tlsFiles" . }}
{{- range $name, $value := .Values.settings }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Where every pod finds the files of tls.secretName (README "TLS and authentication" uses this path). */}}
{{- define "scorecast.tlsPath" -}}
/etc/scorecast/tls
{{- end -}}

{{/* A *_FILE variable for each file tls names, pointing into the mounted Secret. */}}
{{- define "scorecast.tlsFiles" -}}
{{- $t := .Values.tls -}}
{{- $path := include "scorecast.tlsPath" . -}}
{{- /* refused here as the settings would refuse them in every pod at start (scorecast.security) */ -}}
{{- if and (or $t.kafkaCa $t.kafkaCert $t.kafkaKey) (not (hasSuffix "SSL" .Values.kafka.securityProtocol)) }}
{{- fail (printf "tls names Kafka files but kafka.securityProtocol is %s: use SSL or SASL_SSL" .Values.kafka.securityProtocol) }}
{{- end }}
{{- $cassandraSsl := has (lower (toString (get .Values.settings "SCORECAST_CASSANDRA_SSL"))) (list "true" "1" "yes" "on") }}
{{- if and (or $t.cassandraCa $t.cassandraCert $t.cassandraKey) (not $cassandraSsl) }}
{{- fail "tls names Cassandra files but Cassandra's TLS is off: set settings.SCORECAST_CASSANDRA_SSL to \"true\"" }}
{{- end }}
{{- range $variable, $key := dict "SCORECAST_KAFKA_SSL_CA_FILE" $t.kafkaCa "SCORECAST_KAFKA_SSL_CERT_FILE" $t.kafkaCert "SCORECAST_KAFKA_SSL_KEY_FILE" $t.kafkaKey "SCORECAST_CASSANDRA_SSL_CA_FILE" $t.cassandraCa "SCORECAST_CASSANDRA_SSL_CERT_FILE" $t.cassandraCert "SCORECAST_CASSANDRA_SSL_KEY_FILE" $t.cassandraKey "SCORECAST_SCHEMA_REGISTRY_CA_FILE" $t.schemaRegistryCa }}
{{- if $key }}
{{- if not $t.secretName }}
{{- fail (printf "tls names the file %s for %s but no tls.secretName to mount it from" $key $variable) }}
{{- end }}
{{ $variable }}: {{ printf "%s/%s" $path $key | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Credentials by key, as the Secret holds them (only those set). */}}
{{- define "scorecast.credentialsData" -}}
{{- $c := .Values.credentials -}}
{{- range $key, $value := dict "kafka-username" $c.kafkaUsername "kafka-password" $c.kafkaPassword "cassandra-username" $c.cassandraUsername "cassandra-password" $c.cassandraPassword "alert-webhook-url" $c.alertWebhookUrl "schema-registry-username" $c.schemaRegistryUsername "schema-registry-password" $c.schemaRegistryPassword "schema-registry-token" $c.schemaRegistryToken "kafka-ssl-key-password" $c.kafkaSslKeyPassword "cassandra-ssl-key-password" $c.cassandraSslKeyPassword }}
{{- if $value }}
{{ $key }}: {{ $value | b64enc | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "scorecast.credentialsSecret" -}}
{{- default (printf "%s-credentials" (include "scorecast.fullname" .)) .Values.credentials.existingSecret -}}
{{- end -}}

{{/* The image of a pod: the GPU variant when gpu is true. */}}
{{- define "scorecast.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .gpu -}}
{{- $tag = .root.Values.image.gpuTag | default (printf "%s-gpu" .root.Chart.AppVersion) -}}
{{- end -}}
{{- printf "%s:%s" .root.Values.image.repository $tag -}}
{{- end -}}

{{/* What every scorecast container gets: settings from the ConfigMap, credentials from the Secret. */}}
{{- define "scorecast.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "scorecast.fullname" . }}-settings
env:
  - name: POD_NAME
    valueFrom:
      fieldRef:
        fieldPath: metadata.name
  {{- include "scorecast.credentialsEnv" (dict "secret" (include "scorecast.credentialsSecret" .)) | trim | nindent 2 }}
{{- end -}}

{{/* The credential variables, each from a key of .secret (optional: unset keys leave them unset). */}}
{{- define "scorecast.credentialsEnv" -}}
{{- range $variable, $key := dict "SCORECAST_KAFKA_USERNAME" "kafka-username" "SCORECAST_KAFKA_PASSWORD" "kafka-password" "SCORECAST_CASSANDRA_USERNAME" "cassandra-username" "SCORECAST_CASSANDRA_PASSWORD" "cassandra-password" "SCORECAST_ALERT_WEBHOOK_URL" "alert-webhook-url" "SCORECAST_SCHEMA_REGISTRY_USERNAME" "schema-registry-username" "SCORECAST_SCHEMA_REGISTRY_PASSWORD" "schema-registry-password" "SCORECAST_SCHEMA_REGISTRY_TOKEN" "schema-registry-token" "SCORECAST_KAFKA_SSL_KEY_PASSWORD" "kafka-ssl-key-password" "SCORECAST_CASSANDRA_SSL_KEY_PASSWORD" "cassandra-ssl-key-password" }}
- name: {{ $variable }}
  valueFrom:
    secretKeyRef:
      name: {{ $.secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* Writable scratch space under a read-only root file system, the TLS files where tls.secretName is set, and
the model store where .models is true (every worker opens the artifact store through the registry; the API
reads only Cassandra). */}}
{{- define "scorecast.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: home
    mountPath: /home/scorecast
  {{- if .root.Values.tls.secretName }}
  - name: tls
    mountPath: {{ include "scorecast.tlsPath" .root }}
    readOnly: true
  {{- end }}
  {{- if .models }}
  - name: models
    mountPath: {{ .root.Values.modelStore.mountPath }}
    readOnly: {{ .root.Values.modelStore.readOnly }}
  {{- end }}
{{- end -}}

{{- define "scorecast.volumes" -}}
volumes:
  - name: tmp
    emptyDir: {}
  - name: home
    emptyDir: {}
  {{- with .root.Values.tls.secretName }}
  - name: tls
    secret:
      secretName: {{ . }}
      defaultMode: 0440  # readable by the pod's fsGroup (podSecurityContext), not by others
  {{- end }}
  {{- if .models }}
  - name: models
    {{- toYaml .root.Values.modelStore.volume | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "scorecast.podPlacement" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Every worker of the release, one entry each, from `streams` and `models` merged over `defaults`. Consumer
groups and topics are named as the workers name them (scorers/worker.py WorkerConfig.group, shadow/tee.py,
shadow/join.py, streams/runtime.py Names.of), behind the topic prefix (Settings.group_id, Settings.topic).
*/}}
{{- define "scorecast.workers" -}}
{{- $v := .Values -}}
{{- $prefix := $v.kafka.topicPrefix -}}
{{- $port := toString $v.workerMetricsPort -}}
{{- $workers := list -}}
{{- range $s := $v.streams -}}
{{- $tee := mergeOverwrite (deepCopy $v.defaults.shadowTee) (deepCopy (default dict $s.shadowTee)) -}}
{{- if $tee.enabled -}}
{{- $args := list "worker" "shadow-tee" "--stream" $s.name "--sample" (toString $tee.sample) "--batch-max" (toString $tee.batchMax) "--metrics-port" $port -}}
{{- if $tee.salt }}{{ $args = concat $args (list "--salt" $tee.salt) }}{{ end -}}
{{- $workers = append $workers (dict "name" (printf "shadow-tee-%s" (include "scorecast.dns" $s.name)) "component" "shadow-tee" "args" $args "instanceId" true "group" (printf "%sscorecast.%s.shadow-tee" $prefix $s.name) "topic" (printf "%s%s.events" $prefix $s.name) "spec" $tee) -}}
{{- end -}}
{{- end -}}
{{- range $m := $v.models -}}
{{- $id := printf "%s-%s" (include "scorecast.dns" $m.name) (include "scorecast.dns" $m.stream) -}}
{{- $scorer := mergeOverwrite (deepCopy $v.defaults.scorer) (deepCopy (default dict $m.scorer)) -}}
{{- $args := list "worker" "score" "--stream" $m.stream "--model" $m.name "--alias" "champion" "--source" "events" "--sink" "predictions" "--batch-max" (toString $scorer.batchMax) "--metrics-port" $port -}}
{{- $workers = append $workers (dict "name" (printf "scorer-%s" $id) "component" "scorer" "model" $m.name "args" $args "instanceId" true "group" (printf "%sscorecast.%s.events.%s.champion" $prefix $m.stream $m.name) "topic" (printf "%s%s.events" $prefix $m.stream) "spec" $scorer) -}}
{{- $challengers := mergeOverwrite (deepCopy $v.defaults.challengers) (deepCopy (default dict $m.challengers)) -}}
{{- if $challengers.enabled -}}
{{- $args := list "worker" "challengers" "--stream" $m.stream "--model" $m.name "--batch-max" (toString $challengers.batchMax) "--metrics-port" $port -}}
{{- $workers = append $workers (dict "name" (printf "challengers-%s" $id) "component" "challengers" "model" $m.name "args" $args "instanceId" true "group" (printf "%sscorecast.%s.shadow.%s.challenger" $prefix $m.stream $m.name) "topic" (printf "%s%s.shadow" $prefix $m.stream) "spec" $challengers) -}}
{{- end -}}
{{- $join := mergeOverwrite (deepCopy $v.defaults.shadowJoin) (deepCopy (default dict $m.shadowJoin)) -}}
{{- if $join.enabled -}}
{{- $args := list "worker" "shadow-join" "--stream" $m.stream "--model" $m.name "--max-wait" (toString $join.maxWait) "--batch-max" (toString $join.batchMax) "--metrics-port" $port -}}
{{- $workers = append $workers (dict "name" (printf "shadow-join-%s" $id) "component" "shadow-join" "model" $m.name "args" $args "instanceId" true "group" (printf "%sscorecast.%s.shadow-join.%s" $prefix $m.stream $m.name) "topic" (printf "%s%s.shadow-predictions" $prefix $m.stream) "spec" $join) -}}
{{- end -}}
{{- range $kind := list "drift" "promotion" -}}
{{- $p := mergeOverwrite (deepCopy (get $v.defaults $kind)) (deepCopy (default dict (get $m $kind))) -}}
{{- if $p.enabled -}}
{{- $args := list "worker" $kind "--stream" $m.stream "--model" $m.name "--metrics-port" $port -}}
{{- $_ := set $p "replicas" 1 -}}
{{- $_ := set $p "autoscaling" (dict "enabled" false) -}}
{{- $workers = append $workers (dict "name" (printf "%s-%s" $kind $id) "component" $kind "model" $m.name "args" $args "instanceId" false "group" (printf "%sscorecast.%s.%s.%s" $prefix $m.stream $kind $m.name) "topic" "" "spec" $p) -}}
{{- end -}}
{{- end -}}
{{- $r := mergeOverwrite (deepCopy $v.defaults.rollout) (deepCopy (default dict $m.rollout)) -}}
{{- if $r.enabled -}}
{{- $_ := set $r "replicas" 1 -}}
{{- $_ := set $r "autoscaling" (dict "enabled" false) -}}
{{- $args := list "worker" "rollout" "--model" $m.name "--stream" $m.stream "--interval" (toString $r.interval) -}}
{{- $workers = append $workers (dict "name" (printf "rollout-%s" $id) "component" "rollout" "model" $m.name "args" $args "instanceId" false "group" "" "topic" "" "noMetrics" true "spec" $r) -}}
{{- end -}}
{{- end -}}
{{- toYaml (dict "workers" $workers) -}}
{{- end -}}
