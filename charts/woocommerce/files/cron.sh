#!/bin/bash
# Storeplane cron (wp-cli image), run by the CronJob every minute: the WP-Cron events that are due, WooCommerce's
# Action Scheduler queue among them (scheduled sales, analytics imports, webhooks). WordPress itself has
# DISABLE_WP_CRON set, because its own trigger is a loopback HTTP request to the store's public URL, which the
# store's NetworkPolicies drop; this runs the same events in-process, against the database and wp-content.
set -euo pipefail

SETUP_DIR="${SETUP_DIR:-/opt/storeplane/setup}"
WP_PATH="${WP_PATH:-/var/www/html}"

log() {
  printf 'storeplane-cron: %s\n' "$*"
}

wp() {
  php /usr/local/bin/wp --path="$WP_PATH" "$@"
}

# A database outage fails the run (a failed Job is kept for its logs); wp-cli alone would report it as "not
# installed", which is skipped below.
php "$SETUP_DIR/db-ready.php"
# Runs start as soon as the chart is installed, before the setup Job has installed WordPress.
if ! wp core is-installed; then
  log "WordPress is not installed yet; nothing to run"
  exit 0
fi
wp cron event run --due-now
