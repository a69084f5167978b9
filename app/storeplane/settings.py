"""Every setting of the control plane: one pydantic-settings class, read from `STOREPLANE_*` variables."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storeplane.k8s.helm_env import parse_passthrough
from storeplane.paths import REPO_ROOT, is_checkout

# Tokens shorter than this are too easy to guess for an API that can delete stores.
MIN_TOKEN_LENGTH = 16
_OWNER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_DNS_NAME_RE = re.compile(rf"^(?=.{{1,253}}$){_DNS_LABEL}(\.{_DNS_LABEL})*$")
_DATABASE_SCHEMES = ("sqlite", "postgres", "postgresql")


def _default_data_dir() -> Path:
    # A checkout keeps its data next to the code (.data/ is git-ignored); an installed package uses the CWD.
    return (REPO_ROOT if is_checkout() else Path.cwd()) / ".data"


def parse_api_tokens(raw: str) -> dict[str, str]:
    """Parse `token:owner,token:owner` into {token: owner}.

    Errors name the entry by position and never include the token, which may be a real secret.
    """
    tokens: dict[str, str] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue  # tolerate a trailing comma or an empty variable
        # The owner is the part after the last colon: owners never contain one, tokens might.
        token, colon, owner = entry.rpartition(":")
        token, owner = token.strip(), owner.strip()
        if not colon or not token or not owner:
            raise ValueError(f"STOREPLANE_API_TOKENS entry {position} is malformed: expected token:owner")
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"STOREPLANE_API_TOKENS entry {position}: the token is under {MIN_TOKEN_LENGTH} characters"
            )
        if not _OWNER_RE.fullmatch(owner):
            raise ValueError(
                f"STOREPLANE_API_TOKENS entry {position}: the owner must be 1-64 letters, digits or . _ @ -, "
                "starting with a letter or digit"
            )
        if token in tokens:
            raise ValueError(f"STOREPLANE_API_TOKENS entry {position} repeats the token of an earlier entry")
        tokens[token] = owner
    return tokens


class Settings(BaseSettings):
    """Storeplane's settings; each field is read from `STOREPLANE_<FIELD>` (case-insensitive)."""

    # hide_input_in_errors: a validation error must never print STOREPLANE_API_TOKENS back.
    model_config = SettingsConfigDict(env_prefix="STOREPLANE_", hide_input_in_errors=True, frozen=True)

    # --- storage ---
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the SQLite database and the dev token file (.data in the checkout or CWD).",
    )
    database_url: str = Field(
        default="",
        description="sqlite://PATH or postgres://USER:PASSWORD@HOST/DB; empty = data_dir/storeplane.sqlite3.",
    )
    database_busy_timeout_ms: int = Field(
        default=5000,
        gt=0,
        description="How long a SQLite statement waits for a lock held by another process before failing.",
    )

    # --- cluster ---
    kubeconfig: Path | None = Field(
        default=None, description="kubeconfig file to use; unset = $KUBECONFIG or ~/.kube/config."
    )
    kube_context: str | None = Field(default=None, description="kubeconfig context to use; unset = current.")
    in_cluster: bool = Field(
        default=False,
        description="Use the pod's service account instead of a kubeconfig (running in a cluster).",
    )
    helm_binary: Path | None = Field(
        default=None, description="helm executable; unset = <repo>/.tools/bin/helm, else helm on PATH."
    )
    environment: Literal["local", "prod"] = Field(
        default="local",
        description="Deployment environment; selects values/<environment>.yaml for every store.",
    )
    base_domain: str = Field(
        default="localtest.me", description="Each store is served at <store name>.<base_domain>."
    )
    charts_dir: Path = Field(
        default=REPO_ROOT / "charts", description="Folder holding engines.yaml and one chart per engine."
    )
    values_dir: Path = Field(
        default=REPO_ROOT / "values", description="Folder holding the per-environment values files."
    )

    # --- provisioning ---
    provisioning_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Stores provisioned at once (helm installs in parallel); also the most helm uninstalls.",
    )
    provisioning_timeout_seconds: float = Field(
        default=900, gt=0, description="A store not Ready this long after provisioning starts is Failed."
    )
    max_stores_per_owner: int = Field(
        default=20, ge=1, description="Live (non-Deleted) stores one owner may have; more gets QuotaExceeded."
    )

    # --- helm ---
    helm_install_timeout_seconds: float = Field(
        default=120, gt=0, description="Limit for one `helm install` (run without --wait, so it is short)."
    )
    helm_uninstall_timeout_seconds: float = Field(
        default=300,
        gt=0,
        description="Limit for one `helm uninstall`, which deletes every object of a store.",
    )
    helm_status_timeout_seconds: float = Field(
        default=30, gt=0, description="Limit for read-only helm calls (`status`, `list`, `history`)."
    )
    helm_history_max: int = Field(
        default=5, ge=1, description="Release revisions helm keeps (--history-max); bounds its Secrets."
    )
    helm_env_passthrough: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="More variables for helm (NAME or PREFIX_*, comma-separated); never STOREPLANE_*.",
    )

    # --- watches ---
    watch_backoff_initial_seconds: float = Field(
        default=0.5, gt=0, description="First delay before reconnecting a failed watch."
    )
    watch_backoff_max_seconds: float = Field(
        default=30, gt=0, description="Longest delay between watch reconnect attempts."
    )
    watch_backoff_factor: float = Field(
        default=2.0,
        ge=1,
        description="Each failed reconnect multiplies the delay by this, up to the maximum.",
    )
    watch_server_timeout_seconds: int = Field(
        default=300,
        gt=0,
        description="timeoutSeconds asked of the API server per watch request; then rewatch.",
    )
    sweep_interval_seconds: float = Field(
        default=30,
        gt=0,
        description="How often stores in Pending, Provisioning or Deleting that no task serves are resumed.",
    )
    drift_grace_seconds: float = Field(
        default=60,
        ge=0,
        description="How long a Ready store's workload may stay unready before the store is marked Failed.",
    )

    # --- events ---
    event_subscriber_queue_size: int = Field(
        default=256,
        ge=1,
        description="Events buffered per subscriber; a subscriber that falls further behind is dropped.",
    )
    event_writer_queue_size: int = Field(
        default=1000, ge=1, description="Events waiting for the single writer; writers wait when it is full."
    )
    event_writer_batch_max: int = Field(
        default=100, ge=1, description="Most events the writer inserts in one transaction."
    )
    event_writer_drain_timeout_seconds: float = Field(
        default=10, gt=0, description="On shutdown, how long the writer may spend committing queued events."
    )

    # --- API ---
    api_tokens: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        repr=False,  # secrets: never in a repr or a log line
        description="Bearer tokens, STOREPLANE_API_TOKENS=token:owner,...; empty = a generated dev token.",
    )
    graphql_max_depth: int = Field(default=10, ge=1, description="Deepest GraphQL query accepted.")
    graphql_default_page_size: int = Field(
        default=20, ge=1, description="Items in a list when `first` is omitted."
    )
    graphql_max_page_size: int = Field(
        default=100,
        ge=1,
        description="Most items one list call returns (also the subscription replay batch).",
    )
    readiness_check_timeout_seconds: float = Field(
        default=2.0, gt=0, description="How long /readyz waits for one check before reporting it failed."
    )
    graphql_max_tokens: int = Field(default=2000, ge=1, description="Most tokens in one GraphQL document.")
    graphql_max_aliases: int = Field(default=15, ge=0, description="Most aliases in one GraphQL document.")
    http_max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body /graphql accepts; a larger one gets 413 as it arrives.",
    )
    ws_connection_init_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A websocket without connection_init this long is closed (4408)."
    )
    ws_max_message_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest websocket message read; a larger one closes it (1009).",
    )
    ws_max_per_owner: int = Field(
        default=2000, ge=1, description="Open websockets one owner may hold; more are closed (1008)."
    )
    ws_max_per_address: int = Field(
        default=2000, ge=1, description="Open websockets one client address may hold; more are closed (1008)."
    )
    http_limit_concurrency: int = Field(
        default=4096,
        ge=1,
        description="Connections and tasks served at once (websockets count); beyond it, 503.",
    )

    # --- sign-in ---
    session_max_age_seconds: float = Field(
        default=7 * 24 * 3600, gt=0, description="How long a browser session lasts unless revoked."
    )
    signin_code_ttl_seconds: float = Field(
        default=300, gt=0, le=86400, description="How long a one-time sign-in link stays valid."
    )
    signin_failures_per_minute: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins one client address may make per minute; then 429 until it passes.",
    )

    # --- deployment ---
    public_url: str = Field(
        default="",
        description="URL browsers use, e.g. https://storeplane.example.com; https makes cookies Secure and "
        "adds HSTS. Empty = http://host:port.",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Proxies trusted for X-Forwarded-For/-Proto (comma-separated IPs or CIDRs, * for any); "
        "empty = none: the client address is the peer's.",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(
        default=8000, ge=0, le=65535, description="Port the HTTP server listens on (0 = any free)."
    )

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_api_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_api_tokens(value)
        return value

    @field_validator("helm_env_passthrough", mode="before")
    @classmethod
    def _parse_helm_env_passthrough(cls, value: object) -> object:
        if isinstance(value, str | list | tuple):
            return parse_passthrough(value)
        return value

    @field_validator("base_domain")
    @classmethod
    def _check_base_domain(cls, value: str) -> str:
        value = value.strip().rstrip(".").lower()
        if not _DNS_NAME_RE.fullmatch(value):
            raise ValueError("base_domain must be a DNS name such as localtest.me or stores.example.com")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(
                "public_url must be http(s)://HOST[:PORT] such as https://storeplane.example.com"
            )
        if parts.path:
            raise ValueError("public_url must not have a path: Storeplane is served at the root of its host")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_forwarded_allow_ips(cls, value: str) -> str:
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        for entry in entries:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"forwarded_allow_ips entry {entry!r} is not an IP address, a CIDR network or *"
                ) from None
        return ",".join(entries)

    @field_validator("data_dir", "charts_dir", "values_dir", "kubeconfig", "helm_binary")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Relative paths are resolved once, at startup, so a later chdir cannot change their meaning.
        return None if value is None else value.expanduser().absolute()

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.database_url:
            # The model is frozen; this is the one place that fills a derived default.
            object.__setattr__(self, "database_url", f"sqlite://{self.data_dir / 'storeplane.sqlite3'}")
        scheme = urlsplit(self.database_url).scheme
        if scheme not in _DATABASE_SCHEMES:
            # The URL may hold a password: name only its scheme.
            raise ValueError(
                f"database_url scheme {scheme!r} is not supported; use sqlite://PATH or postgres://USER@HOST/DB"
            )
        if self.in_cluster and (self.kubeconfig is not None or self.kube_context is not None):
            raise ValueError("in_cluster uses the service account: leave kubeconfig and kube_context unset")
        if self.watch_backoff_initial_seconds > self.watch_backoff_max_seconds:
            raise ValueError("watch_backoff_initial_seconds must not exceed watch_backoff_max_seconds")
        return self

    @property
    def is_sqlite(self) -> bool:
        return urlsplit(self.database_url).scheme == "sqlite"

    def base_url(self, *, host: str, port: int) -> str:
        """What browsers should open: the public URL, else the address the server listens on."""
        if self.public_url:
            return self.public_url
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"

    @property
    def values_file(self) -> Path:
        """The environment's values file, passed to every helm install."""
        return self.values_dir / f"{self.environment}.yaml"
