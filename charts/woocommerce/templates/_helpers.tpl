{{/*
Base of every object name: the release (store) name itself. It is checked rather than truncated, because two
stores whose names share a 40-character prefix would otherwise collide. 40 leaves room for the longest suffix
("-setup-" plus an 8-character hash, and "data-" ... "-mariadb-0" on the database PVC) within 63 characters, and
for the StatefulSet's controller-revision-hash label ("<name>-mariadb-<10 chars>").
It must be a DNS-1035 label (starts with a letter) because it names Services.
*/}}
{{- define "woocommerce.fullname" -}}
{{- $name := .Release.Name -}}
{{- if gt (len $name) 40 -}}
{{- fail (printf "release name %q is %d characters long; store names must be at most 40 characters so that every derived name stays within 63" $name (len $name)) -}}
{{- end -}}
{{- if not (regexMatch "^[a-z]([-a-z0-9]*[a-z0-9])?$" $name) -}}
{{- fail (printf "release name %q must be a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit" $name) -}}
{{- end -}}
{{- $name -}}
{{- end -}}

{{/* Public host of the store. */}}
{{- define "woocommerce.host" -}}
{{- default (printf "%s.%s" (include "woocommerce.fullname" .) .Values.environment.baseDomain) .Values.store.host -}}
{{- end -}}

{{/* Site URL without a trailing slash; the scheme follows environment.tls.enabled. */}}
{{- define "woocommerce.url" -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.environment.tls.enabled) (include "woocommerce.host" .) -}}
{{- end -}}

{{/*
Labels of every object, pod template and volumeClaimTemplate. Call with (dict "ctx" $ "component" "mariadb").
They never change for a release: a StatefulSet's volumeClaimTemplates cannot be updated, and a changed pod label
restarts pods. app.kubernetes.io/managed-by is always "Helm"; the control plane selects by storeplane.io/store-id.
*/}}
{{- define "woocommerce.labels" -}}
{{ include "woocommerce.selectorLabels" . }}
app.kubernetes.io/part-of: storeplane
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
storeplane.io/store-id: {{ required "store.id is required (the control plane's per-store values file sets it)" .ctx.Values.store.id | quote }}
{{- end -}}

{{/* Labels of objects (not pod or claim templates): adds the versions, which change on upgrade. */}}
{{- define "woocommerce.objectLabels" -}}
{{ include "woocommerce.labels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end -}}

{{/* Selector labels: immutable in Deployment and StatefulSet selectors, so never add to them. */}}
{{- define "woocommerce.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* metadata.namespace on every object: checkov (CKV_K8S_21) and readers want it explicit. */}}
{{- define "woocommerce.namespace" -}}
namespace: {{ .Release.Namespace }}
{{- end -}}

{{/* Image reference from an images.<x> entry; a digest, when given, pins it further. */}}
{{- define "woocommerce.image" -}}
{{- if .digest -}}
{{- printf "%s:%s@%s" .repository .tag .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/* Requests/limits of a component: its own `resources` if set, else the preset row for environment.scale. */}}
{{- define "woocommerce.resources" -}}
{{- $preset := index .ctx.Values.resourcePresets .ctx.Values.environment.scale -}}
{{- $resources := .override | default (index $preset .component) -}}
{{- toYaml $resources -}}
{{- end -}}

{{/* Pod-level security context for a numeric user; fsGroup makes the volumes writable by it. */}}
{{- define "woocommerce.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security context shared by every container. */}}
{{- define "woocommerce.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Names of the Secrets (generated or supplied). */}}
{{- define "woocommerce.databaseSecretName" -}}
{{- default (printf "%s-db" (include "woocommerce.fullname" .)) .Values.secrets.database.existingSecret -}}
{{- end -}}

{{- define "woocommerce.wordpressSecretName" -}}
{{- default (printf "%s-wordpress" (include "woocommerce.fullname" .)) .Values.secrets.wordpress.existingSecret -}}
{{- end -}}

{{/*
Environment shared by WordPress and the setup Job: wp-config-docker.php (shipped in the WordPress image) reads
every setting with getenv_docker(), which prefers <NAME>_FILE, so passwords and salts are read from the mounted
Secret files and never appear in the pod spec.
*/}}
{{- define "woocommerce.wordpressEnv" -}}
- name: WORDPRESS_DB_HOST
  value: {{ printf "%s-mariadb" (include "woocommerce.fullname" .) | quote }}
- name: WORDPRESS_DB_NAME
  value: {{ .Values.mariadb.database | quote }}
- name: WORDPRESS_DB_USER
  value: {{ .Values.mariadb.user | quote }}
- name: WORDPRESS_DB_PASSWORD_FILE
  value: /run/secrets/storeplane/db/mariadb-password
- name: WORDPRESS_TABLE_PREFIX
  value: {{ .Values.wordpress.tablePrefix | quote }}
{{- range list "auth-key" "secure-auth-key" "logged-in-key" "nonce-key" "auth-salt" "secure-auth-salt" "logged-in-salt" "nonce-salt" }}
- name: {{ printf "WORDPRESS_%s_FILE" (. | upper | replace "-" "_") }}
  value: {{ printf "/run/secrets/storeplane/wordpress/%s" . }}
{{- end }}
{{- if .Values.cron.enabled }}
# wp-config-docker.php evals this. The CronJob runs WP-Cron, so page loads must not trigger it: WordPress's trigger
# is a loopback request to the public URL, which the NetworkPolicies drop. WP-CLI may load wp-config twice, hence
# the defined() guard.
- name: WORDPRESS_CONFIG_EXTRA
  value: "defined('DISABLE_WP_CRON') || define('DISABLE_WP_CRON', true);"
{{- end }}
{{- end -}}

{{/*
Secret volumes matching the paths above, projecting only the keys a pod needs: never the database root password,
and the admin account only for the setup Job. Call with (dict "ctx" $ "admin" true|false).
*/}}
{{- define "woocommerce.wordpressSecretVolumes" -}}
- name: db-secret
  secret:
    secretName: {{ include "woocommerce.databaseSecretName" .ctx }}
    defaultMode: 0440
    items:
      - key: mariadb-password
        path: mariadb-password
- name: wordpress-secret
  secret:
    secretName: {{ include "woocommerce.wordpressSecretName" .ctx }}
    defaultMode: 0440
    items:
      {{- $keys := list "auth-key" "secure-auth-key" "logged-in-key" "nonce-key" "auth-salt" "secure-auth-salt" "logged-in-salt" "nonce-salt" }}
      {{- if .admin }}
      {{- $keys = concat $keys (list "admin-user" "admin-password") }}
      {{- end }}
      {{- range $keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end -}}

{{- define "woocommerce.wordpressSecretMounts" -}}
- name: db-secret
  mountPath: /run/secrets/storeplane/db
  readOnly: true
- name: wordpress-secret
  mountPath: /run/secrets/storeplane/wordpress
  readOnly: true
{{- end -}}

{{/*
Pod affinity of the pods that mount wp-content besides WordPress (setup Job, cron): a ReadWriteOnce volume can only
be mounted on the node where it is already attached, so they run on WordPress's node.
*/}}
{{- define "woocommerce.wpContentAffinity" -}}
{{- if eq .Values.wordpress.persistence.accessMode "ReadWriteOnce" -}}
# wp-content is ReadWriteOnce: only pods on the node that mounts it can mount it too.
affinity:
  podAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchLabels:
            {{- include "woocommerce.selectorLabels" (dict "ctx" . "component" "wordpress") | nindent 12 }}
        topologyKey: kubernetes.io/hostname
{{- end }}
{{- end -}}

{{/*
Init container that copies WordPress core from the WordPress image into the "html" emptyDir, so that wp-cli (whose
image ships no WordPress) runs against exactly the core the storefront serves. Needs the "scripts" volume.
*/}}
{{- define "woocommerce.prepareCoreContainer" -}}
{{- $uid := int .Values.wordpress.uid -}}
- name: prepare
  image: {{ include "woocommerce.image" .Values.images.wordpress }}
  imagePullPolicy: {{ .Values.images.pullPolicy }}
  command: [/bin/bash, /opt/storeplane/setup/prepare-core.sh]
  securityContext:
    {{- include "woocommerce.containerSecurityContext" (dict "uid" $uid) | nindent 4 }}
  resources:
    {{- include "woocommerce.resources" (dict "ctx" . "component" "prepare" "override" dict) | nindent 4 }}
  volumeMounts:
    - name: html
      mountPath: /var/www/html
    - name: scripts
      mountPath: /opt/storeplane/setup
      readOnly: true
{{- end -}}

{{/*
The php.ini settings (php.*). Both images are built on the official php images, whose PHP_INI_DIR is
/usr/local/etc/php: PHP reads every *.ini of its conf.d, in name order, and no php.ini ships there.
*/}}
{{- define "woocommerce.phpIni" -}}
; Rendered by the chart from the values php.* (docs/chart.md).
upload_max_filesize = {{ .Values.php.uploadMaxSize }}
post_max_size = {{ .Values.php.uploadMaxSize }}
memory_limit = {{ .Values.php.memoryLimit }}
{{- end -}}

{{/*
Mount of that file: one file (subPath) rather than the directory, which holds the images' own ini files (the
extensions, opcache). "zz-" sorts it last so that it wins. A subPath mount never sees ConfigMap updates: the
Deployment carries a checksum of the file instead, so a change restarts WordPress.
*/}}
{{- define "woocommerce.phpIniMount" -}}
- name: php-ini
  mountPath: /usr/local/etc/php/conf.d/zz-storeplane.ini
  subPath: storeplane.ini
  readOnly: true
{{- end -}}

{{- define "woocommerce.phpIniVolume" -}}
- name: php-ini
  configMap:
    name: {{ include "woocommerce.fullname" . }}-php
{{- end -}}
