"""The scripts of the setup Job and the cron, checked without a cluster: shellcheck, and runs against a
simulated wp-cli."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.chart.chart_helpers import CHART, RELEASE, Manifest, named

FILES = CHART / "files"
SCRIPTS = sorted(FILES.glob("*.sh"))
# Seconds one run of setup.sh against the simulated wp-cli may take.
SCRIPT_TIMEOUT = 60

# Stands in for `php`: runs db-ready.php as "database up" (down when FAKE_DB_DOWN is set), version_compare
# for `php -r`, and for `php ... /usr/local/bin/wp ...` a small model of the WordPress state wp-cli changes,
# kept in a JSON file. Every wp call is appended to a log so that the test can see what a run did.
FAKE_PHP = r"""
import json, os, sys
args = sys.argv[1:]
if args[:1] == ["-r"]:
    def key(v): return [int(p) if p.isdigit() else p for p in v.replace("-", ".").split(".")]
    sys.exit(0 if key(args[3]) < key(args[4]) else 1)
if args[0].endswith("db-ready.php"):
    sys.exit(1 if os.environ.get("FAKE_DB_DOWN") else 0)
args = args[args.index("/usr/local/bin/wp") + 1:]
assert args[0].startswith("--path="), args
args = args[1:]
state_file = os.environ["FAKE_WP_STATE"]
state = json.load(open(state_file)) if os.path.exists(state_file) else {
    "installed": False, "plugins": {}, "active": [], "themes": {"twentytwentyfive": "1.0"}, "theme": "",
    "options": {}, "methods": [], "skus": [],
}
with open(os.environ["FAKE_WP_LOG"], "a") as log:
    log.write(" ".join(args) + "\n")
words = [a for a in args if not a.startswith("--")]
flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
command = tuple(words[:2])
status = 0
if command == ("core", "is-installed"):
    status = 0 if state["installed"] else 1
elif command == ("core", "install"):
    assert not state["installed"], "core install on an installed site"
    assert flags["admin_password"] and flags["url"].startswith("http"), flags
    state["installed"] = True
elif command in (("plugin", "get"), ("theme", "get")):
    kind = "plugins" if words[0] == "plugin" else "themes"
    if words[2] in state[kind]:
        print(state[kind][words[2]])
    else:
        status = 1
elif command in (("plugin", "install"), ("theme", "install")):
    kind = "plugins" if words[0] == "plugin" else "themes"
    slug = os.path.basename(words[2]).split(".")[0]
    state[kind][slug] = flags.get("version") or os.path.basename(words[2])[len(slug) + 1:-4]
elif command == ("plugin", "is-active"):
    status = 0 if words[2] in state["active"] else 1
elif command == ("plugin", "activate"):
    assert words[2] in state["plugins"]
    state["active"].append(words[2])
elif command == ("theme", "activate"):
    assert words[2] in state["themes"]
    state["theme"] = words[2]
elif command == ("option", "update"):
    state["options"][words[2]] = words[3]
elif command == ("option", "get"):
    if words[2] in state["options"]:
        print(state["options"][words[2]])
    else:
        status = 1
elif words[:3] == ["wc", "shipping_zone_method", "list"]:
    print("\n".join(state["methods"]))
elif words[:3] == ["wc", "shipping_zone_method", "create"]:
    state["methods"].append(flags["method_id"])
elif words[0] == "eval-file":
    products = json.load(open(words[2]))
    new = [p["sku"] for p in products if p["sku"] not in state["skus"]]
    state["skus"] += new
    print(f"products: {len(new)} created, {len(products) - len(new)} already present")
elif words[:3] == ["cron", "event", "run"]:
    assert state["installed"], "cron events run on a site that is not installed"
    print("Success: Executed a total of 0 cron events.")
elif command[0] in ("wc", "rewrite", "transient"):
    assert "woocommerce" in state["active"] or command[0] != "wc", "wc command before WooCommerce is active"
else:
    raise SystemExit(f"fake wp: unexpected command {args}")
json.dump(state, open(state_file, "w"))
sys.exit(status)
"""


def require_shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        pytest.fail("shellcheck not found: install it with `apt-get install -y shellcheck` (Debian package)")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_setup_scripts_pass_shellcheck(script: Path) -> None:
    result = subprocess.run(
        [require_shellcheck(), "--shell=bash", "--severity=style", str(script)],
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_configmap_ships_the_files_that_are_checked(rendered: dict[str, list[Manifest]]) -> None:
    configmap = named(rendered["local"], "ConfigMap", f"{RELEASE}-setup")
    for name, content in configmap["data"].items():
        assert content == (FILES / name).read_text(), name
    assert set(configmap["data"]) == {path.name for path in FILES.iterdir()}


def test_sample_products_have_unique_skus_and_prices() -> None:
    products = json.loads((FILES / "sample-products.json").read_text())
    assert len({p["sku"] for p in products}) == len(products) > 0
    assert all(float(p["regular_price"]) > 0 and p["name"] for p in products)


@pytest.fixture
def fake_wp(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    php = bin_dir / "php"
    php.write_text(f"#!{sys.executable}\n{FAKE_PHP}")
    php.chmod(0o755)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "admin-user").write_text("storeadmin")
    (secrets / "admin-password").write_text("s3cret-admin-password")
    return {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "FAKE_WP_STATE": str(tmp_path / "state.json"),
        "FAKE_WP_LOG": str(tmp_path / "wp.log"),
        "SECRETS_DIR": str(secrets),
        "SETUP_DIR": str(FILES),
        "WP_PATH": str(tmp_path / "html"),
        "SITE_URL": "http://demo-shop.localtest.me",
        "SITE_TITLE": "Demo Shop",
        "ADMIN_EMAIL": "admin@demo-shop.localtest.me",
        "WOOCOMMERCE_VERSION": "10.9.4",
        "STOREFRONT_VERSION": "4.6.2",
        "STORE_CURRENCY": "EUR",
        "STORE_COUNTRY": "DE",
        "DB_WAIT_SECONDS": "10",
        "SAMPLE_PRODUCTS": "true",
    }


def run_setup(env: dict[str, str]) -> tuple[str, list[str]]:
    log = Path(env["FAKE_WP_LOG"])
    log.write_text("")
    result = subprocess.run(
        ["bash", str(FILES / "setup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1], log.read_text().splitlines()


def test_setup_configures_a_new_store_and_says_so_last(fake_wp: dict[str, str]) -> None:
    last, calls = run_setup(fake_wp)
    state = json.loads(Path(fake_wp["FAKE_WP_STATE"]).read_text())
    assert state["installed"]
    assert state["theme"] == "storefront"
    assert state["plugins"] == {"woocommerce": "10.9.4"}
    assert state["active"] == ["woocommerce"]
    options = state["options"]
    assert options["woocommerce_currency"] == "EUR"
    assert options["woocommerce_coming_soon"] == "no"
    assert json.loads(options["woocommerce_cod_settings"])["enabled"] == "yes"
    assert json.loads(options["woocommerce_onboarding_profile"]) == {"skipped": True}
    assert options["home"] == options["siteurl"] == fake_wp["SITE_URL"]
    assert state["methods"] == ["free_shipping"]
    assert "rewrite structure /%postname%/" in calls
    assert "wc tool run install_pages --user=storeadmin" in calls
    assert last.startswith("storeplane-setup: done: http://demo-shop.localtest.me: WordPress installed")
    assert "products: 4 created, 0 already present" in last


def test_a_second_run_changes_nothing_the_merchant_owns(fake_wp: dict[str, str]) -> None:
    run_setup(fake_wp)
    state_file = Path(fake_wp["FAKE_WP_STATE"])
    state = json.loads(state_file.read_text())
    state["theme"] = "merchant-theme"
    state["themes"]["merchant-theme"] = "1.0"
    state["plugins"]["woocommerce"] = "11.0.0"  # updated by the merchant in WP admin
    state["options"]["woocommerce_currency"] = "USD"
    state_file.write_text(json.dumps(state))

    last, calls = run_setup({**fake_wp, "SITE_URL": "http://moved.localtest.me"})

    after = json.loads(state_file.read_text())
    assert not [c for c in calls if c.startswith(("core install", "plugin install", "theme install"))]
    assert not [
        c for c in calls if c.startswith(("eval-file", "theme activate", "wc shipping_zone_method create"))
    ]
    assert after["theme"] == "merchant-theme"
    assert after["plugins"]["woocommerce"] == "11.0.0", "never downgrade a plugin the merchant updated"
    assert after["options"]["woocommerce_currency"] == "USD"
    assert after["options"]["home"] == "http://moved.localtest.me", "the site URL follows store.host"
    assert "WordPress already installed" in last
    assert "initial settings already applied" in last


def test_setup_upgrades_woocommerce_when_the_pinned_version_is_newer(fake_wp: dict[str, str]) -> None:
    run_setup(fake_wp)
    last, calls = run_setup({**fake_wp, "WOOCOMMERCE_VERSION": "10.10.0"})
    assert "plugin install woocommerce --version=10.10.0 --force" in calls
    assert "woocommerce upgraded from 10.9.4 to 10.10.0" in last


def test_offline_setup_installs_from_the_packages_directory(fake_wp: dict[str, str]) -> None:
    _, calls = run_setup({**fake_wp, "OFFLINE_PACKAGES_DIR": "/opt/storeplane/packages"})
    assert "plugin install /opt/storeplane/packages/woocommerce.10.9.4.zip --force" in calls
    assert "theme install /opt/storeplane/packages/storefront.4.6.2.zip --force" in calls


def run_cron(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = Path(env["FAKE_WP_LOG"])
    log.write_text("")
    result = subprocess.run(
        ["bash", str(FILES / "cron.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    return result, log.read_text().splitlines()


def test_cron_runs_the_due_events_of_an_installed_store(fake_wp: dict[str, str]) -> None:
    run_setup(fake_wp)
    result, calls = run_cron(fake_wp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == ["core is-installed", "cron event run --due-now"]


def test_cron_does_nothing_before_the_setup_job_installed_wordpress(fake_wp: dict[str, str]) -> None:
    result, calls = run_cron(fake_wp)
    assert result.returncode == 0, result.stdout + result.stderr
    assert calls == ["core is-installed"]
    assert "not installed yet" in result.stdout


def test_cron_fails_when_the_database_is_unreachable(fake_wp: dict[str, str]) -> None:
    run_setup(fake_wp)
    result, calls = run_cron({**fake_wp, "FAKE_DB_DOWN": "1"})
    assert result.returncode != 0
    assert calls == [], "no wp-cli call, which would take a database outage for a site not installed yet"
