#!/bin/bash
# Storeplane setup Job (wp-cli image): turns the empty WordPress of a new store into a WooCommerce shop that takes a
# cash-on-delivery order, with no manual step.
#
# Safe to rerun (after a failed attempt, on an upgrade that changes the Job, or when a finished Job that expired is
# recreated), by construction:
# - every step either checks the state first (install, plugin, theme, shipping method, products by SKU) or writes
#   an absolute value (options), so a second run converges on the same store;
# - the store's initial settings (theme, currency, address, payment, onboarding, permalinks, sample products) are
#   applied until one run completes them, then recorded in the option storeplane_setup_completed and never
#   reapplied, so a rerun does not undo what the merchant changed in WP admin;
# - the site URL, WooCommerce and Storefront versions and WooCommerce's pages are enforced on every run.
# The last line it prints summarises what it did.
set -euo pipefail

: "${SITE_URL:?}" "${SITE_TITLE:?}" "${ADMIN_EMAIL:?}" "${WOOCOMMERCE_VERSION:?}" "${STOREFRONT_VERSION:?}"
: "${STORE_CURRENCY:?}" "${STORE_COUNTRY:?}" "${DB_WAIT_SECONDS:?}"
SECRETS_DIR="${SECRETS_DIR:-/run/secrets/storeplane/wordpress}"
SETUP_DIR="${SETUP_DIR:-/opt/storeplane/setup}"
WP_PATH="${WP_PATH:-/var/www/html}"
OFFLINE_PACKAGES_DIR="${OFFLINE_PACKAGES_DIR:-}"
SAMPLE_PRODUCTS="${SAMPLE_PRODUCTS:-true}"

summary=()
ADMIN_USER=""

log() {
  printf 'storeplane-setup: %s\n' "$*"
}

# wp-cli with enough memory for WooCommerce's activation and database updates (PHP's default is 128M).
wp() {
  php -d memory_limit=384M /usr/local/bin/wp --path="$WP_PATH" "$@"
}

# Exit 0 when version $1 is lower than version $2 (PHP's version_compare, as WordPress itself uses).
version_lt() {
  # shellcheck disable=SC2016 # PHP code: $argv is PHP's, not the shell's.
  php -r 'exit(version_compare($argv[1], $argv[2], "<") ? 0 : 1);' -- "$1" "$2"
}

# Installs (or upgrades to) the pinned version of a plugin or theme; never downgrades one the merchant updated.
# Usage: ensure_package plugin|theme <slug> <version>
ensure_package() {
  local type="$1" slug="$2" version="$3" installed source
  installed="$(wp "$type" get "$slug" --field=version 2>/dev/null || true)"
  if [ -n "$installed" ] && ! version_lt "$installed" "$version"; then
    summary+=("$slug $installed present")
    return
  fi
  if [ -n "$OFFLINE_PACKAGES_DIR" ]; then
    source="$OFFLINE_PACKAGES_DIR/$slug.$version.zip"
    wp "$type" install "$source" --force
  else
    wp "$type" install "$slug" --version="$version" --force
  fi
  if [ -n "$installed" ]; then
    summary+=("$slug upgraded from $installed to $version")
  else
    summary+=("$slug $version installed")
  fi
}

wait_for_database() {
  local deadline=$((SECONDS + DB_WAIT_SECONDS))
  until php "$SETUP_DIR/db-ready.php"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "failed: database not reachable after ${DB_WAIT_SECONDS}s"
      exit 1
    fi
    sleep 5
  done
  log "database reachable"
}

install_core() {
  local admin_user admin_password
  admin_user="$(cat "$SECRETS_DIR/admin-user")"
  if wp core is-installed; then
    summary+=("WordPress already installed")
  else
    admin_password="$(cat "$SECRETS_DIR/admin-password")"
    wp core install --url="$SITE_URL" --title="$SITE_TITLE" --admin_user="$admin_user" \
      --admin_password="$admin_password" --admin_email="$ADMIN_EMAIL" --skip-email
    summary+=("WordPress installed for $admin_user")
  fi
  ADMIN_USER="$admin_user"
  # The host may change between upgrades (store.host): WordPress must always answer on the current one.
  wp option update home "$SITE_URL"
  wp option update siteurl "$SITE_URL"
}

install_woocommerce() {
  ensure_package plugin woocommerce "$WOOCOMMERCE_VERSION"
  wp plugin is-active woocommerce || wp plugin activate woocommerce
  # Pending database migrations after an upgrade of the plugin; a no-op when there are none.
  wp wc update
  ensure_package theme storefront "$STOREFRONT_VERSION"
  # Creates only the WooCommerce pages that are missing (shop, cart, checkout, my account).
  wp wc tool run install_pages --user="$ADMIN_USER"
}

apply_initial_settings() {
  wp theme activate storefront
  wp option update woocommerce_currency "$STORE_CURRENCY"
  wp option update woocommerce_store_address "${STORE_ADDRESS:-}"
  wp option update woocommerce_store_city "${STORE_CITY:-}"
  wp option update woocommerce_store_postcode "${STORE_POSTCODE:-}"
  wp option update woocommerce_default_country "$STORE_COUNTRY"
  wp option update woocommerce_cod_settings --format=json \
    '{"enabled":"yes","title":"Cash on delivery","description":"Pay with cash upon delivery.","instructions":"Pay with cash upon delivery.","enable_for_methods":[],"enable_for_virtual":"yes"}'
  # Free shipping everywhere not covered by another zone (zone 0), so a physical product can be checked out.
  local methods
  methods="$(wp wc shipping_zone_method list 0 --field=method_id --user="$ADMIN_USER")"
  if ! grep -qx free_shipping <<<"$methods"; then
    wp wc shipping_zone_method create 0 --method_id=free_shipping --enabled=true --user="$ADMIN_USER"
  fi
  # Skip the onboarding wizard and its task list, and open the store to the public (no "coming soon" page).
  wp option update woocommerce_onboarding_profile --format=json '{"skipped":true}'
  wp option update woocommerce_task_list_hidden yes
  wp option update woocommerce_show_marketplace_suggestions no
  wp option update woocommerce_allow_tracking no
  wp option update woocommerce_coming_soon no
  # Warns (exit 0) when the transient is already gone.
  wp transient delete _wc_activation_redirect
  wp rewrite structure '/%postname%/'
  summary+=("storefront theme, $STORE_CURRENCY, cash on delivery, free shipping, pretty permalinks set")
  if [ "$SAMPLE_PRODUCTS" = "true" ]; then
    local result
    result="$(wp eval-file "$SETUP_DIR/import-products.php" "$SETUP_DIR/sample-products.json" | tail -n 1)"
    summary+=("$result")
  fi
  wp option update storeplane_setup_completed "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

main() {
  log "setting up $SITE_URL"
  wait_for_database
  install_core
  install_woocommerce
  if [ -n "$(wp option get storeplane_setup_completed 2>/dev/null || true)" ]; then
    summary+=("initial settings already applied")
  else
    apply_initial_settings
  fi
  wp rewrite flush
  local joined
  joined="$(printf '%s; ' "${summary[@]}")"
  log "done: $SITE_URL: ${joined%; }"
}

main "$@"
