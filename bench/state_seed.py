"""Fills a migrated Storeplane database with stores and their event histories, fast, for bench/state.py.

Rows go straight in with sqlite3 (`executemany`, one transaction) into the tables the server's migrations
created; the column list is read from the table and must be exactly the set this module writes, so a new
migration makes the seeding fail loudly instead of drifting. Values are formatted as Tortoise writes them
(datetimes as `YYYY-MM-DD HH:MM:SS.ffffff+00:00`).

What the data looks like: stores created over two years, most owned by the benchmark's owner and the rest by
40 other owners, interleaved in time so that the owner filter has work to do. A quarter of them (more among
the old ones) are Deleted; every other one is Failed, most after having been Ready (URLs and ready_at set,
failed by drift), some during provisioning. Pending, Provisioning and Deleting would make the server start
helm at once, and Ready would be failed by the reconciler within seconds because kubesim holds none of their
namespaces: Failed and Deleted are the states the server leaves alone (see bench/README.md). Each store's
events follow a real provisioning captured on kubesim (28 events from Created to Ready), then pod restarts
and probe warnings, then its end (Failed or the 7 deletion events); one "hot" store has 2% of all events.
Events of all stores are inserted in time order, so ids interleave as the single event writer makes them.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from storeplane.stores.models import STORE_ID_PREFIX

ENGINE = "woocommerce"
OTHER_OWNERS = 40
BENCH_SHARE = 0.8
"""Share of the stores owned by the benchmark's owner."""
HOT_SHARE = 0.02
"""Share of all events that belong to the one hot store (read by the storeEvents measurement)."""
HOT_MIN = 250
SEARCH = "bakery"
"""A word in about 1 in 30 store names: the filtered search."""
_PREFIXES = [
    "anna", "joes", "city", "green", "little", "north", "urban", "old", "happy", "blue", "royal", "fresh",
    "smart", "wild", "golden", "sunny", "local", "prime", "silver", "cozy", "bright", "river", "maple",
    "coast", "alpine", "metro", "corner", "village", "lucky", "modern",
]  # fmt: skip
_WORDS = [
    "bakery", "books", "coffee", "garden", "outdoor", "pets", "toys", "shoes", "wine", "tea", "bikes",
    "crafts", "vinyl", "games", "beauty", "kitchen", "decor", "fitness", "jewelry", "cheese", "flowers",
    "prints", "textiles", "ceramics", "candles", "spices", "surf", "optics", "tools", "music",
]  # fmt: skip
_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


class _Entry(NamedTuple):
    """One event of a history template; {name}, {ns}, {pod}, {job}, {uid*} and {count} filled per store."""

    gap: float
    """Seconds after the previous event (lifecycle only)."""
    type: str
    source: str
    reason: str
    kind: str | None
    name: str | None
    message: str


def _entries(table: str) -> list[_Entry]:
    """Rows of `gap | type | source | reason | kind name (or -) | message`."""
    entries = []
    for line in table.strip().splitlines():
        gap, type_, source, reason, involved, message = (part.strip() for part in line.split("|", 5))
        kind, _, name = involved.partition(" ")
        entries.append(_Entry(float(gap), type_, source, reason, kind or None, name or None, message))
    return [e._replace(kind=None, name=None) if e.kind == "-" else e for e in entries]


# A real provisioning on kubesim (captured from `storeplane serve`, names replaced), Created to Ready.
_LIFECYCLE = _entries("""
0.0 | Normal | api | Created | - | Store {name} (woocommerce) requested in namespace {ns}
0.1 | Normal | api | Provisioning | - | Provisioning {name} (woocommerce) in namespace {ns}
0.1 | Normal | api | NamespaceCreated | Namespace {ns} | Namespace {ns} created
1.5 | Normal | kubernetes | IngressCreated | Ingress {name} | Ingress {name} created for {name}.localtest.me
0.2 | Normal | kubernetes | ProvisioningSucceeded | PersistentVolumeClaim {name}-wp-content | \
PersistentVolumeClaim {name}-wp-content: ProvisioningSucceeded: Successfully provisioned volume pvc-{uid1} \
using kubesim.io/local
0.1 | Normal | kubernetes | ClaimBound | PersistentVolumeClaim {name}-wp-content | \
PersistentVolumeClaim {name}-wp-content bound
0.4 | Normal | helm | HelmInstalled | Release {name} | \
helm installed release {name} revision 1 (woocommerce-0.1.0), status deployed
0.2 | Normal | kubernetes | Scheduled | Pod {pod} | \
Pod {pod} scheduled: Successfully assigned {ns}/{pod} to kubesim-node
0.1 | Normal | kubernetes | ProvisioningSucceeded | PersistentVolumeClaim data-{name}-mariadb-0 | \
PersistentVolumeClaim data-{name}-mariadb-0: ProvisioningSucceeded: Successfully provisioned volume \
pvc-{uid2} using kubesim.io/local
0.1 | Normal | kubernetes | Scheduled | Pod {name}-mariadb-0 | \
Pod {name}-mariadb-0 scheduled: Successfully assigned {ns}/{name}-mariadb-0 to kubesim-node
0.1 | Normal | kubernetes | ClaimBound | PersistentVolumeClaim data-{name}-mariadb-0 | \
PersistentVolumeClaim data-{name}-mariadb-0 bound
0.2 | Normal | kubernetes | Scheduled | Pod {job}-m4jrr | \
Pod {job}-m4jrr scheduled: Successfully assigned {ns}/{job}-m4jrr to kubesim-node
4.0 | Normal | kubernetes | Pulled | Pod {pod} | \
Pod {pod} pulled image docker.io/library/wordpress:7.0.2-php8.3-apache
1.0 | Normal | kubernetes | Pulled | Pod {name}-mariadb-0 | \
Pod {name}-mariadb-0 pulled image docker.io/library/mariadb:11.8.3
1.0 | Normal | kubernetes | Pulled | Pod {job}-m4jrr | \
Pod {job}-m4jrr pulled image docker.io/library/wordpress:7.0.2-php8.3-apache
0.5 | Normal | kubernetes | Started | Pod {pod} | Pod {pod} started container wordpress
0.3 | Normal | kubernetes | Started | Pod {name}-mariadb-0 | Pod {name}-mariadb-0 started container mariadb
0.3 | Normal | kubernetes | Started | Pod {job}-m4jrr | Pod {job}-m4jrr started container prepare
2.0 | Normal | kubernetes | Pulled | Pod {job}-m4jrr | \
Pod {job}-m4jrr pulled image docker.io/library/wordpress:cli-2.12.0-php8.3
5.0 | Normal | kubernetes | PodReady | Pod {pod} | Pod {pod} is ready
0.1 | Normal | kubernetes | WorkloadReady | Deployment {name}-wordpress | \
Deployment {name}-wordpress ready (1/1)
2.0 | Normal | kubernetes | PodReady | Pod {name}-mariadb-0 | Pod {name}-mariadb-0 is ready
0.1 | Normal | kubernetes | WorkloadReady | StatefulSet {name}-mariadb | \
StatefulSet {name}-mariadb ready (1/1)
0.5 | Normal | kubernetes | Started | Pod {job}-m4jrr | Pod {job}-m4jrr started container setup
0.2 | Normal | kubernetes | PodReady | Pod {job}-m4jrr | Pod {job}-m4jrr is ready
9.0 | Normal | kubernetes | JobCompleted | Job {job} | Job {job} completed
0.1 | Normal | kubernetes | IngressReady | Ingress {name} | Ingress ready at http://{name}.localtest.me/
0.1 | Normal | api | Ready | - | Store {name} is ready at http://{name}.localtest.me/
""")
# What a long-lived store accumulates: restarts, probe failures, back-offs (relayed at counts 1, 2, 4, ...).
_LATER = _entries("""
0 | Warning | kubernetes | Unhealthy | Pod {pod} | \
Pod {pod}: Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503 (seen {count} times)
0 | Warning | kubernetes | BackOff | Pod {name}-mariadb-0 | Pod {name}-mariadb-0: BackOff: Back-off \
restarting failed container mariadb in pod {name}-mariadb-0_{ns} (seen {count} times)
0 | Normal | kubernetes | Killing | Pod {pod} | Pod {pod}: Killing: Stopping container wordpress
0 | Normal | kubernetes | Scheduled | Pod {pod} | \
Pod {pod} scheduled: Successfully assigned {ns}/{pod} to kubesim-node
0 | Normal | kubernetes | Pulled | Pod {pod} | \
Pod {pod} pulled image docker.io/library/wordpress:7.0.2-php8.3-apache
0 | Normal | kubernetes | Started | Pod {pod} | Pod {pod} started container wordpress
0 | Normal | kubernetes | PodReady | Pod {pod} | Pod {pod} is ready
""")
_DELETION = _entries("""
0 | Normal | api | DeleteRequested | - | Deletion of {name} requested
0 | Normal | kubernetes | Killing | Pod {name}-mariadb-0 | \
Pod {name}-mariadb-0: Killing: Stopping container mariadb
0 | Normal | kubernetes | Killing | Pod {pod} | Pod {pod}: Killing: Stopping container wordpress
0 | Normal | helm | HelmUninstalled | Release {name} | helm uninstalled release {name}
0 | Normal | api | NamespaceDeleting | Namespace {ns} | Namespace {ns} deletion requested
0 | Normal | kubernetes | NamespaceDeleted | Namespace {ns} | Namespace {ns} deleted
0 | Normal | api | Deleted | - | Store {name} deleted
""")
_DRIFT = "Drift: not ready for 60s: Deployment {name}-wordpress: pod {pod} not ready: CrashLoopBackOff"
_SETUP_FAILED = (
    "Job {job} failed: BackoffLimitExceeded: Job has reached the specified backoff limit "
    "(pod {job}-m4jrr: Error: wp: Error establishing a database connection)"
)

Row = tuple[object, ...]


@dataclass
class Seeded:
    """What the benchmark needs to know of the seeded data."""

    stores: int
    events: int
    statuses: Counter[str]
    owner_stores: int
    """Stores of the benchmark's owner (every status)."""
    owner_live: list[str]
    """The benchmark owner's non-Deleted stores, oldest first."""
    events_of: dict[str, int] = field(default_factory=dict)
    hot_store: str = ""
    search: str = SEARCH
    seconds: float = 0.0


@dataclass
class _Store:
    id: str
    name: str
    owner: str
    created: datetime
    status: str = "Failed"
    ready: bool = True
    end: datetime | None = None


def db_time(moment: datetime) -> str:
    """A datetime as Tortoise stores it on SQLite (`str()` of an aware UTC datetime, microseconds kept)."""
    return f"{moment:%Y-%m-%d %H:%M:%S.%f}+00:00"


def _at(moment: datetime) -> datetime:
    # Never a whole second: Python would then drop ".000000" and the row would sort apart from its peers.
    return moment if moment.microsecond else moment.replace(microsecond=1)


def _event_counts(rng: random.Random, *, stores: int, events: int, hot: int) -> list[int]:
    """Events per store: the hot store (index 0) gets `hot`, the rest a skewed spread summing to the total."""
    counts = [hot] + [0] * (stores - 1)
    rest = events - hot
    if stores > 1 and rest > 0:
        mean = rest / (stores - 1)
        for index in range(1, stores):
            counts[index] = max(1, round(rng.gammavariate(2.0, mean / 2)))
        # Nudge random stores one event at a time until the total is exact.
        difference = rest - sum(counts[1:])
        while difference != 0:
            index = rng.randrange(1, stores)
            step = 1 if difference > 0 else -1
            if counts[index] + step >= (1 if rest >= stores - 1 else 0):
                counts[index] += step
                difference -= step
    else:
        counts[0] = events
    return counts


def _plan_stores(rng: random.Random, *, count: int, owner: str, now: datetime) -> list[_Store]:
    start = now - timedelta(days=730)
    span = (now - timedelta(days=1) - start).total_seconds()
    moments = sorted(start + timedelta(seconds=rng.uniform(0, span)) for _ in range(count))
    stores = []
    for index, moment in enumerate(moments):
        name = f"{rng.choice(_PREFIXES)}-{rng.choice(_WORDS)}-{index}"
        others = f"owner-{rng.randint(1, OTHER_OWNERS):02d}"
        store = _Store(
            id=STORE_ID_PREFIX + "".join(rng.choice(_ID_ALPHABET) for _ in range(12)),
            name=name,
            owner=owner if rng.random() < BENCH_SHARE else others,
            created=_at(moment),
        )
        age = 1 - index / max(1, count - 1)  # 1 for the oldest, 0 for the newest
        lifetime = timedelta(days=rng.uniform(1, 400))
        store.end = _at(min(now - timedelta(minutes=5), store.created + lifetime))
        if rng.random() < 0.05 + 0.4 * age:
            store.status = "Deleted"
        store.ready = rng.random() < 0.85
        stores.append(store)
    return stores


def _history(rng: random.Random, store: _Store, count: int) -> list[tuple[datetime, _Entry]]:
    """`count` events of one store, filled in: its provisioning, later trouble, then its end."""
    suffix = "".join(rng.choice(_ID_ALPHABET) for _ in range(10))
    fill = {
        "name": store.name,
        "ns": f"store-{store.name}",
        "pod": f"{store.name}-wordpress-{suffix}-{suffix[5:]}",
        "job": f"{store.name}-setup-{suffix[2:]}",
        "uid1": f"{rng.getrandbits(128):032x}",
        "uid2": f"{rng.getrandbits(128):032x}",
        "count": "1",
    }
    out: list[tuple[datetime, _Entry]] = []

    def add(at: datetime, entry: _Entry) -> None:
        name = None if entry.name is None else entry.name.format(**fill)
        out.append((at, entry._replace(name=name, message=entry.message.format(**fill))))

    lifecycle = _LIFECYCLE if store.ready else _LIFECYCLE[:19]
    if store.status == "Deleted":
        tail = _DELETION
    else:
        reason = _DRIFT if store.ready else _SETUP_FAILED
        tail = [_Entry(0, "Warning", "api", "Failed", None, None, reason)]
    # A short history keeps the start of its provisioning and its end (a third of it at most).
    keep_tail = len(tail) if count >= len(lifecycle) + len(tail) else min(len(tail), max(1, count // 3))
    head = lifecycle[: max(0, count - keep_tail)]
    moment = store.created
    for entry in head:
        moment += timedelta(seconds=entry.gap * rng.uniform(0.5, 2.0))
        add(_at(moment), entry)
    assert store.end is not None
    span = store.end - moment
    middle = max(0, count - len(head) - keep_tail)
    for number, share in enumerate(sorted(rng.random() for _ in range(middle))):
        fill["count"] = str(2 ** (number // len(_LATER) % 10))
        add(_at(moment + span * share), _LATER[number % len(_LATER)])
    end = store.end
    for entry in tail[len(tail) - keep_tail :]:
        add(end, entry)
        end += timedelta(seconds=rng.uniform(0.1, 3.0))
    return out


def _store_row(store: _Store, history: list[tuple[datetime, _Entry]], columns: list[str]) -> Row:
    assert store.end is not None
    last = history[-1][0] if history else store.end
    ready_at = next((at for at, entry in history if entry.reason == "Ready"), None)
    if store.ready and ready_at is None:
        ready_at = store.created + timedelta(seconds=30)
    url = f"http://{store.name}.localtest.me/"
    failure = next((entry.message for _, entry in reversed(history) if entry.reason == "Failed"), None)
    values: dict[str, object] = {
        "id": store.id,
        "name": store.name,
        "engine": ENGINE,
        "status": store.status,
        "namespace": f"store-{store.name}",
        "helm_release": store.name,
        "owner": store.owner,
        "storefront_url": url if store.ready else None,
        "admin_url": url + "wp-admin/" if store.ready else None,
        "failure_reason": (failure or "Drift: Namespace not found") if store.status == "Failed" else None,
        "idempotency_key": None,
        "created_at": db_time(store.created),
        "updated_at": db_time(last),
        "ready_at": None if ready_at is None else db_time(ready_at),
        "deleted_at": db_time(last) if store.status == "Deleted" else None,
    }
    return _ordered(values, columns, "store")


def _ordered(values: Mapping[str, object], columns: list[str], table: str) -> Row:
    if set(values) != set(columns):
        raise RuntimeError(
            f"table {table} has columns {sorted(columns)} but the seed writes {sorted(values)}: "
            "a migration changed it, update bench/state_seed.py"
        )
    return tuple(values[column] for column in columns)


def _columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in db.execute(f'PRAGMA table_info("{table}")')]


def seed(path: Path, *, stores: int, events: int, owner: str, seed: int = 6) -> Seeded:
    """Insert `stores` stores and `events` events into the migrated, empty database at `path`."""
    import time

    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    planned = _plan_stores(rng, count=stores, owner=owner, now=now)
    # The hot store: an old, live store of the benchmark's owner (its history spans most of the table).
    mine = [s for s in planned if s.owner == owner]
    if not mine:
        planned[0].owner = owner
        mine = [planned[0]]
    hot = next((s for s in mine if s.status != "Deleted"), mine[0])
    hot.status, hot.ready = "Failed", True
    hot.end = _at(now - timedelta(minutes=5))
    order = [hot, *(s for s in planned if s is not hot)]
    hot_events = min(events, max(HOT_MIN, round(events * HOT_SHARE)))
    counts = _event_counts(rng, stores=len(order), events=events, hot=hot_events)

    all_events: list[tuple[datetime, str, _Entry]] = []
    store_rows: list[Row] = []
    db = sqlite3.connect(path)
    try:
        store_columns = _columns(db, "store")
        event_columns = [c for c in _columns(db, "store_event") if c != "id"]
        for store, count in zip(order, counts, strict=True):
            history = _history(rng, store, count)
            store_rows.append(_store_row(store, history, store_columns))
            all_events.extend((at, store.id, row) for at, row in history)
        store_rows.sort(key=lambda row: str(row[store_columns.index("created_at")]))
        # In time order, with ids from AUTOINCREMENT: as the single event writer commits them.
        all_events.sort(key=lambda item: item[0])
        event_rows = []
        for at, store_id, entry in all_events:
            values = {
                "time": db_time(at),
                "type": entry.type,
                "reason": entry.reason,
                "message": entry.message,
                "source": entry.source,
                "involved_kind": entry.kind,
                "involved_name": entry.name,
                "store_id": store_id,
                "key": uuid.uuid4().hex,  # the writer's idempotency key (events/writer.py)
            }
            event_rows.append(_ordered(values, event_columns, "store_event"))
        with db:
            if db.execute("SELECT count(*) FROM store").fetchone()[0]:
                raise RuntimeError(f"{path} already holds stores: seed an empty database")
            marks = ",".join("?" * len(store_columns))
            db.executemany(f"INSERT INTO store ({','.join(store_columns)}) VALUES ({marks})", store_rows)
            marks = ",".join("?" * len(event_columns))
            db.executemany(
                f"INSERT INTO store_event ({','.join(event_columns)}) VALUES ({marks})", event_rows
            )
        # Leave the WAL empty, as a long-running server's automatic checkpoints would.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()

    events_of = {store.id: count for store, count in zip(order, counts, strict=True)}
    live = sorted((s for s in mine if s.status != "Deleted"), key=lambda s: s.created)
    return Seeded(
        stores=len(order),
        events=len(all_events),
        statuses=Counter(s.status for s in order),
        owner_stores=len(mine),
        owner_live=[s.id for s in live],
        events_of=events_of,
        hot_store=hot.id,
        seconds=time.perf_counter() - started,
    )
