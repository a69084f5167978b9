#!/bin/bash
# Init container of the setup Job, run in the WordPress image: copies WordPress core into the emptyDir that the
# wp-cli container uses as its WordPress root, so wp-cli runs against exactly the core the storefront serves (the
# wp-cli image ships no WordPress). wp-content is excluded: the wp-cli container mounts the store's volume there.
set -euo pipefail

src=/usr/src/wordpress
dest=/var/www/html

# --no-overwrite-dir and --touch: a non-root user cannot change the mode or times of the emptyDir itself.
tar --create --file - --directory "$src" --exclude ./wp-content . |
  tar --extract --file - --directory "$dest" --no-overwrite-dir --touch
# wp-config-docker.php reads every setting from WORDPRESS_* variables (or the files named by *_FILE), exactly like
# the storefront's own copy, so both see the same database, table prefix, keys and salts.
cp "$src/wp-config-docker.php" "$dest/wp-config.php"

version="$(sed -n "s/^\$wp_version = '\(.*\)';\$/\1/p" "$src/wp-includes/version.php")"
echo "storeplane-prepare: copied WordPress ${version:-unknown} core to $dest"
