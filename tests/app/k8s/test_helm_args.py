"""Pure parts of the helm wrapper: argument lists, names, stderr classification, redaction, result parsing.

The stderr texts below are what helm v4.1.4 printed against kubesim when each failure was provoked.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storeplane.k8s import errors
from storeplane.k8s.helm import (
    HelmConfig,
    Release,
    ReleaseState,
    Revision,
    classify,
    get_manifest_args,
    get_values_args,
    helm_duration,
    history_args,
    install_args,
    list_args,
    parse_time,
    redact,
    resolve_helm_binary,
    rollback_args,
    status_args,
    stderr_excerpt,
    uninstall_args,
    upgrade_args,
)

CONFIG = HelmConfig(binary="/opt/helm", history_max=7, operation_timeout=120.0)
REMOTE = HelmConfig(binary="helm", kubeconfig="/etc/kube/config", kube_context="prod-ctx")


def test_install_args_pass_values_as_files_with_no_wait_and_no_create_namespace() -> None:
    args = install_args(
        CONFIG,
        release="demo-shop",
        namespace="store-st-1",
        chart=Path("charts/woocommerce"),
        values_files=[Path("values/local.yaml"), Path("/tmp/store.yaml")],
    )
    assert args == [
        "/opt/helm",
        "install",
        "-n",
        "store-st-1",
        "--output=json",
        "--timeout=120s",
        "--values=values/local.yaml",
        "--values=/tmp/store.yaml",
        "--",
        "demo-shop",
        "charts/woocommerce",
    ]
    assert not any(a.startswith(("--wait", "--create-namespace", "--set")) for a in args)


def test_upgrade_args_reset_values_and_limit_history() -> None:
    args = upgrade_args(CONFIG, release="demo", namespace="ns", chart="charts/demo", values_files=["v.yaml"])
    assert args == [
        "/opt/helm",
        "upgrade",
        "-n",
        "ns",
        "--output=json",
        "--timeout=120s",
        "--history-max=7",
        "--reset-values",
        "--values=v.yaml",
        "--",
        "demo",
        "charts/demo",
    ]


def test_kubeconfig_and_context_are_passed_only_when_configured() -> None:
    local = uninstall_args(CONFIG, release="demo", namespace="ns")
    assert not any(a.startswith(("--kubeconfig", "--kube-context")) for a in local)
    remote = uninstall_args(REMOTE, release="demo", namespace="ns", ignore_not_found=True)
    assert remote == [
        "helm",
        "uninstall",
        "-n",
        "ns",
        "--kubeconfig=/etc/kube/config",
        "--kube-context=prod-ctx",
        "--timeout=300s",
        "--ignore-not-found",
        "--",
        "demo",
    ]


def test_query_args_always_name_the_namespace_and_ask_for_json() -> None:
    assert history_args(CONFIG, release="demo", namespace="ns") == [
        "/opt/helm",
        "history",
        "-n",
        "ns",
        "--output=json",
        "--",
        "demo",
    ]
    # status reads the newest history entry (see status_args' docstring).
    assert status_args(CONFIG, release="demo", namespace="ns")[-3:] == ["--max=1", "--", "demo"]
    assert get_values_args(CONFIG, release="demo", namespace="ns", all_values=True, revision=2) == [
        "/opt/helm",
        "get",
        "values",
        "-n",
        "ns",
        "--output=json",
        "--all",
        "--revision=2",
        "--",
        "demo",
    ]
    assert get_manifest_args(REMOTE, release="demo", namespace="ns")[:4] == ["helm", "get", "manifest", "-n"]


def test_rollback_args_limit_history_and_default_to_the_previous_revision() -> None:
    assert rollback_args(CONFIG, release="demo", namespace="ns")[-2:] == ["--", "demo"]
    assert rollback_args(CONFIG, release="demo", namespace="ns", revision=3)[-3:] == ["--", "demo", "3"]
    assert "--history-max=7" in rollback_args(CONFIG, release="demo", namespace="ns")
    with pytest.raises(ValueError, match="revision"):
        rollback_args(CONFIG, release="demo", namespace="ns", revision=0)


def test_list_args_scope_to_one_namespace_or_all_and_keep_the_filter_in_one_token() -> None:
    one = list_args(
        CONFIG, namespace="ns", states=[ReleaseState.PENDING_INSTALL, ReleaseState.PENDING_UPGRADE]
    )
    assert one[:4] == ["/opt/helm", "list", "-n", "ns"]
    assert one.count("--pending") == 1
    every = list_args(REMOTE, namespace=None, filter_regex="--uninstall", limit=1000)
    assert "--all-namespaces" in every
    assert "-n" not in every
    assert "--filter=--uninstall" in every
    assert "--max=1000" in every
    assert "--output=json" in every
    with pytest.raises(ValueError, match="limit"):
        list_args(CONFIG, namespace="ns", limit=0)


@pytest.mark.parametrize(
    "name",
    ["", "-n", "--set=x", "Demo", "a_b", "a.b", "demo-", "-demo", "a b", "x" * 54, "ns;rm", "é"],
)
def test_release_names_that_are_not_dns1123_labels_are_rejected_before_any_argv(name: str) -> None:
    with pytest.raises(errors.InvalidName):
        install_args(CONFIG, release=name, namespace="ns", chart="c", values_files=[])
    with pytest.raises(errors.InvalidName):
        status_args(CONFIG, release=name, namespace="ns")


@pytest.mark.parametrize("namespace", ["", "--all-namespaces", "Store", "a.b", "x" * 64])
def test_invalid_namespaces_are_rejected_before_any_argv(namespace: str) -> None:
    with pytest.raises(errors.InvalidName):
        uninstall_args(CONFIG, release="demo", namespace=namespace)
    with pytest.raises(errors.InvalidName):
        list_args(CONFIG, namespace=namespace)


def test_longest_valid_names_are_accepted() -> None:
    args = install_args(CONFIG, release="a" * 53, namespace="b" * 63, chart="-chart", values_files=[])
    # Even a chart path that looks like a flag stays positional, after "--".
    assert args[-3:] == ["--", "a" * 53, "-chart"]


def test_invalid_name_is_a_value_error_and_a_helm_error() -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        uninstall_args(CONFIG, release="Bad", namespace="ns")
    assert issubclass(errors.InvalidName, errors.HelmError)


def test_durations_are_written_as_go_durations() -> None:
    assert helm_duration(300) == "300s"
    assert helm_duration(2.5) == "2500ms"
    assert helm_duration(0.0001) == "1ms"
    with pytest.raises(ValueError, match="positive"):
        helm_duration(0)


def test_binary_resolution_prefers_explicit_then_tools_bin_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "repo" / ".tools" / "bin"
    tools.mkdir(parents=True)
    on_path = tmp_path / "path"
    on_path.mkdir()
    monkeypatch.setenv("PATH", str(on_path))

    with pytest.raises(errors.HelmBinaryNotFound, match="helm not found"):
        resolve_helm_binary(repo_root=tmp_path / "repo")
    for folder in (on_path, tools):
        (folder / "helm").write_text("#!/bin/sh\n")
        os.chmod(folder / "helm", 0o755)
    assert resolve_helm_binary(repo_root=tmp_path / "repo") == str(tools / "helm")
    (tools / "helm").unlink()
    assert resolve_helm_binary(repo_root=tmp_path / "repo") == str(on_path / "helm")
    assert resolve_helm_binary("helm", repo_root=tmp_path / "repo") == str(on_path / "helm")
    assert resolve_helm_binary(str(on_path / "helm")) == str(on_path / "helm")
    with pytest.raises(errors.HelmBinaryNotFound, match="not an executable"):
        resolve_helm_binary(str(tmp_path / "missing" / "helm"))


# --- stderr classification, with helm v4.1.4's texts as observed against kubesim ---------------------------

INSTALL = "Error: INSTALLATION FAILED: "
API_VERSIONS = "could not get apiVersions from Kubernetes: "
OBSERVED: list[tuple[str, type[errors.HelmError]]] = [
    (
        'level=ERROR msg="release name check failed" error="cannot reuse a name that is still in use"\n'
        "Error: INSTALLATION FAILED: release name check failed: cannot reuse a name that is still in use\n",
        errors.ReleaseExists,
    ),
    ("Error: release: not found\n", errors.ReleaseNotFound),
    ("Error: uninstall: Release not loaded: nope: release: not found\n", errors.ReleaseNotFound),
    ('Error: UPGRADE FAILED: "nope" has no deployed releases\n', errors.ReleaseNotFound),
    (
        'level=ERROR msg="cluster reachability check failed: kubernetes cluster unreachable: Get '
        '\\"http://127.0.0.1:1/version\\": dial tcp 127.0.0.1:1: connect: connection refused"\n'
        "Error: INSTALLATION FAILED: cluster reachability check failed: kubernetes cluster unreachable: Get "
        '"http://127.0.0.1:1/version": dial tcp 127.0.0.1:1: connect: connection refused\n',
        errors.ClusterUnreachable,
    ),
    (
        "Error: kubernetes cluster unreachable: the server is currently unable to handle the request\n",
        errors.ClusterUnreachable,
    ),
    (
        'E1128 19:16:51.575530   11390 memcache.go:265] "Unhandled Error" err="couldn\'t get current '
        'server API group list: an error on the server (\\"unknown\\") has prevented the request from '
        'succeeding"\n'
        f"{INSTALL}{API_VERSIONS}{API_VERSIONS}"
        'an error on the server ("unknown") has prevented the request from succeeding\n',
        errors.ClusterUnreachable,
    ),
    (
        f"{INSTALL}{API_VERSIONS}{API_VERSIONS}the server was unable to return a response in the time "
        "allotted, but may still be processing the request\n",
        errors.ClusterUnreachable,
    ),
    (
        f"{INSTALL}{API_VERSIONS}{API_VERSIONS}the server is currently unable to handle the request\n",
        errors.ClusterUnreachable,
    ),
    (
        "Error: INSTALLATION FAILED: resource Deployment/t1/w1-web not ready. status: InProgress, message: "
        "Available: 0/1\nresource StatefulSet/t1/w1-db not ready. status: InProgress, message: Ready: 0/1\n"
        "context deadline exceeded\n",
        errors.HelmTimeout,
    ),
    (
        'level=WARN msg="upgrade failed" name=w1 error="context deadline exceeded"\n'
        "Error: UPGRADE FAILED: context deadline exceeded\n",
        errors.HelmTimeout,
    ),
    (
        "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following "
        "chart(s):\nwoocommerce:\n- at '/woocommerce/currency': 'usd' does not match pattern '^[A-Z]{3}$'\n",
        errors.InvalidChart,
    ),
    (
        "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following "
        "chart(s):\nwoocommerce:\n- at '/store': additional properties 'bogus' not allowed\n",
        errors.InvalidChart,
    ),
    (
        f"{INSTALL}execution error at (woocommerce/templates/wordpress.yaml:1:17): release name "
        '"abcdefghijabcdefghijabcdefghijabcdefghij12345" is 45 characters long; store names must be at '
        "most 40 characters so that every derived name stays within 63\n",
        errors.InvalidChart,
    ),
    (
        f'{INSTALL}parse error at (broken/templates/cm.yaml:4): unexpected "}}" in operand\n',
        errors.InvalidChart,
    ),
    (
        f"{INSTALL}YAML parse error on broken/templates/cm.yaml: error converting YAML to JSON: "
        "yaml: line 5: did not find expected node content\n",
        errors.InvalidChart,
    ),
    (
        f"{INSTALL}failed to parse bad3.yaml: cannot unmarshal yaml document: error converting "
        "YAML to JSON: yaml: line 1: did not find expected ',' or ']'\n",
        errors.InvalidChart,
    ),
    ('Error: INSTALLATION FAILED: path "/nonexistent/chart" not found\n', errors.InvalidChart),
    ("Error: INSTALLATION FAILED: validation: chart.metadata.version is required\n", errors.InvalidChart),
    (
        "Error: INSTALLATION FAILED: file '/tmp/hx/bad.yaml' seems to be a YAML file, but expected a gzipped "
        "archive\n",
        errors.InvalidChart,
    ),
    (
        "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n",
        errors.OperationInProgress,
    ),
    (
        'Error: INSTALLATION FAILED: create: failed to create: namespaces "doesnotexist" not found\n',
        errors.HelmCommandFailed,
    ),
    ("Error: unknown flag: --history-max\n", errors.HelmCommandFailed),
]


@pytest.mark.parametrize(
    ("stderr", "kind"), OBSERVED, ids=[f"{k.__name__}-{i}" for i, (_, k) in enumerate(OBSERVED)]
)
def test_helms_stderr_maps_to_the_typed_error(stderr: str, kind: type[errors.HelmError]) -> None:
    error = classify(stderr, exit_code=1, command="install", release="demo", namespace="ns")
    assert type(error) is kind
    assert error.exit_code == 1
    assert (error.command, error.release, error.namespace) == ("install", "demo", "ns")
    assert "level=" not in error.stderr
    assert error.stderr.startswith("Error:")
    assert str(error).startswith("helm install demo in ns failed (exit 1): Error:")


def test_unknown_failures_keep_exit_code_and_an_excerpt() -> None:
    error = classify("Error: something new\n" + "x" * 5000, exit_code=3, command="list")
    assert isinstance(error, errors.HelmCommandFailed)
    assert error.exit_code == 3
    assert error.stderr.startswith("Error: something new")
    assert len(error.stderr) <= 1500
    assert error.stderr.endswith("...")


def test_error_excerpts_mask_the_values_we_passed_and_values_helm_echoes() -> None:
    stderr = (
        "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following "
        "chart(s):\nwoocommerce:\n- at '/woocommerce/currency': 'hunter2-secret' does not match pattern\n"
        "- at '/store/name': 'My Shop Name' is not valid\n"
        "yaml: unmarshal errors: cannot unmarshal !!str `s3cr3t-v...` into int\n"
        "password: swordfish token=abc.def Bearer eyJhbGciOi\n"
    )
    error = classify(stderr, exit_code=1, command="install", sensitive=["My Shop Name", "st-0042", "ab"])
    for leaked in ("hunter2-secret", "My Shop Name", "s3cr3t", "swordfish", "abc.def", "eyJhbGciOi"):
        assert leaked not in str(error)
        assert leaked not in error.stderr
    # The path of the offending value stays: it is what the user needs to fix it.
    assert "at '/woocommerce/currency': '***' does not match" in error.stderr


def test_redaction_ignores_strings_too_short_to_mask_safely() -> None:
    assert redact("Error: release: not found", ["e", "no"]) == "Error: release: not found"


def test_stderr_excerpt_drops_klog_and_slog_lines() -> None:
    stderr = (
        'E1128 19:16:48.477470   11376 memcache.go:265] "Unhandled Error" err="x"\n'
        'level=ERROR msg="y"\nError: the error\n'
    )
    assert stderr_excerpt(stderr) == "Error: the error"


# --- results --------------------------------------------------------------------------------------------


def test_helm_timestamps_with_nanoseconds_parse_to_aware_datetimes() -> None:
    expected = datetime(2026, 11, 28, 19, 15, 59, 552068, tzinfo=UTC)
    assert parse_time("2026-11-28T19:15:59.552068996Z") == expected
    assert parse_time("2026-11-28T19:15:59.552068+00:00") == expected
    assert parse_time("2026-11-28T19:15:59Z") == expected.replace(microsecond=0)
    assert parse_time("") is None
    with pytest.raises(ValueError, match="timestamp"):
        parse_time("2026-11-28 19:15:59.552068996 +0000 UTC")


def test_history_entries_and_list_items_parse_to_releases() -> None:
    revision = Revision.from_json(
        {
            "revision": 4,
            "updated": "2026-11-28T19:18:07.113718615Z",
            "status": "pending-upgrade",
            "chart": "demo-0.1.0",
            "app_version": "1.0",
            "description": "Preparing upgrade",
        }
    )
    release = Release.from_revision(revision, name="pend", namespace="t1")
    assert (release.revision, release.status, release.chart, release.app_version) == (
        4,
        ReleaseState.PENDING_UPGRADE,
        "demo-0.1.0",
        "1.0",
    )
    assert release.status.is_pending
    listed = Release.from_list_item(
        {
            "name": "s1",
            "namespace": "t2",
            "revision": "1",
            "updated": "2026-11-28T19:16:14.327521Z",
            "status": "deployed",
            "chart": "woocommerce-0.1.0",
            "app_version": "10.9.4",
        }
    )
    assert (listed.name, listed.namespace, listed.revision, listed.status) == (
        "s1",
        "t2",
        1,
        ReleaseState.DEPLOYED,
    )
    assert not listed.status.is_pending


def test_release_json_keeps_only_the_summary() -> None:
    data = {
        "name": "demo",
        "namespace": "t1",
        "version": 2,
        "info": {"status": "deployed", "last_deployed": "2026-11-28T19:16:32.108494795Z", "description": "x"},
        "chart": {"metadata": {"name": "demo", "version": "0.1.0", "appVersion": "1.0"}},
        "manifest": "kind: Secret\ndata: {password: c2VjcmV0}\n",
        "config": {"password": "secret"},
    }
    release = Release.from_release_json(data)
    assert (release.revision, release.chart, release.app_version) == (2, "demo-0.1.0", "1.0")
    assert "secret" not in repr(release)


def test_unknown_release_states_do_not_break_parsing() -> None:
    assert ReleaseState("something-new") is ReleaseState.UNKNOWN
