"""The store service: the rules for creating, deleting, retrying and reading stores, per caller.

Every caller sees and changes only their own stores: another owner's store is reported exactly like a missing
one (StoreNotFound), so ids leak nothing. Expected failures are returned as values (the dataclasses below);
exceptions mean a bug or an infrastructure fault. What it returns are read models (StoreRecord, EventRecord,
AuditRecord), never ORM rows.

Status changes go through stores/transitions.py, the only code that writes a store's status: a
compare-and-set, then the api StoreEvent, then StoreChanged. Only then is the request handed to the
provisioner, so a crash in between leaves the request in the row, where the reconciler finds it.

Ids and cursors come from clients as they are: an id that no store can have is an unknown store (answered
without asking the database, which refuses some strings: NUL in PostgreSQL text, lone surrogates anywhere),
and a forged cursor is InvalidCursorError.

Deleting twice: `delete_store` on a store that is already Deleting is idempotent (it returns the store and
changes nothing); on a Deleted store it returns InvalidState.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from storeplane.audit.records import AuditOutcome, AuditRecord
from storeplane.audit.service import list_audit, record_audit
from storeplane.engines.catalog import Catalog
from storeplane.events.models import StoreEvent, newest_events
from storeplane.events.records import EventRecord
from storeplane.events.writer import EventWriter
from storeplane.pagination import InvalidCursorError, Page, PageLimits, decode_cursor, encode_cursor
from storeplane.provisioning.protocol import Provisioner
from storeplane.stores.changes import StoreChanges
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.names import derived_namespace, namespace_for, validate_store_name
from storeplane.stores.owners import StoreOwners
from storeplane.stores.records import StoreRecord, load_store
from storeplane.stores.transitions import TransitionConflict, announce_created, insert_store_row, transition

# The idempotency_key column's width.
MAX_IDEMPOTENCY_KEY_LENGTH = 128
_STORE_CURSOR = "store"
# What a store id may look like: the characters of a Kubernetes label value (the id is one) and at most the
# id column's width. Looser than the ids models.new_store_id makes, so that the check never hides a store.
_STORE_ID_SHAPE = re.compile(r"[A-Za-z0-9._-]{1,32}")
# A derived namespace is drawn again when taken; more than a few misses means something is badly wrong.
_NAMESPACE_ATTEMPTS = 8


@dataclass(frozen=True)
class InvalidInput:
    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class NameTaken:
    name: str


@dataclass(frozen=True)
class QuotaExceeded:
    limit: int


@dataclass(frozen=True)
class UnknownEngine:
    engine: str
    known: list[str]


@dataclass(frozen=True)
class StoreNotFound:
    id: str


@dataclass(frozen=True)
class InvalidState:
    id: str
    status: StoreStatus
    action: str


def is_store_id(value: str) -> bool:
    """Whether `value` may be a store id; a value that may not is an unknown store."""
    return _STORE_ID_SHAPE.fullmatch(value) is not None


def _store_position(cursor: str) -> tuple[datetime, str]:
    """The (created_at, id) of the last store of a page, from the cursor `list_stores` handed out."""
    created, last_id = decode_cursor(_STORE_CURSOR, cursor, 2)
    if not isinstance(created, str) or not isinstance(last_id, str) or not is_store_id(last_id):
        raise InvalidCursorError()
    try:
        since = datetime.fromisoformat(created)
        # Ours carry the column's time zone (UTC), and a naive time would be ambiguous. Converting can push
        # a forged time out of datetime's range ("0001-01-01T00:00:00+23:59"): OverflowError.
        if since.tzinfo is not None:
            return since.astimezone(UTC), last_id
    except (ValueError, OverflowError) as exc:
        raise InvalidCursorError() from exc
    raise InvalidCursorError()


CreateResult = StoreRecord | InvalidInput | NameTaken | QuotaExceeded | UnknownEngine
ChangeResult = StoreRecord | StoreNotFound | InvalidState
_Rejection = InvalidInput | NameTaken | QuotaExceeded | UnknownEngine | StoreNotFound | InvalidState


class StoreService:
    def __init__(
        self,
        *,
        catalog: Catalog,
        writer: EventWriter,
        changes: StoreChanges,
        owners: StoreOwners,
        provisioner: Provisioner,
        max_stores_per_owner: int,
        page_limits: PageLimits | None = None,
    ) -> None:
        self.page_limits = page_limits or PageLimits()
        self._catalog = catalog
        self._writer = writer
        self._changes = changes
        self._owners = owners
        self._provisioner = provisioner
        self._max_stores_per_owner = max_stores_per_owner
        # Creates are checked and inserted one at a time in this process, so that two concurrent creates
        # cannot both pass the quota check. The partial unique indexes still guard names across processes.
        self._create_lock = asyncio.Lock()

    # --- mutations ---

    async def create_store(
        self,
        *,
        owner: str,
        name: str,
        engine: str,
        idempotency_key: str | None,
        client_address: str | None,
    ) -> CreateResult:
        """Create a Pending store and hand it to provisioning.

        A repeat with the same idempotency key and owner returns the store that key created (whatever its
        status now), without checking the rest of the input again.
        """
        async with self._audited(
            actor=owner, action="createStore", target=name, client_address=client_address
        ) as audit:
            result = await self._create(
                owner=owner, name=name, engine=engine, idempotency_key=idempotency_key
            )
            audit.result(result)
            return result

    async def delete_store(self, *, owner: str, id: str, client_address: str | None = None) -> ChangeResult:
        """Mark the store Deleting and ask provisioning to delete it (idempotent while Deleting)."""
        async with self._audited(
            actor=owner, action="deleteStore", target=id, client_address=client_address
        ) as audit:
            result = await self._delete(owner=owner, id=id)
            audit.result(result)
            return result

    async def retry_store(self, *, owner: str, id: str, client_address: str | None = None) -> ChangeResult:
        """Put a Failed store back to Pending and provision it again."""
        async with self._audited(
            actor=owner, action="retryStore", target=id, client_address=client_address
        ) as audit:
            result = await self._retry(owner=owner, id=id)
            audit.result(result)
            return result

    # --- queries ---

    async def get_store(self, *, owner: str, id: str) -> StoreRecord | None:
        if not is_store_id(id):
            return None
        row = await Store.get_or_none(id=id, owner=owner)
        return None if row is None else StoreRecord.of(row)

    async def list_stores(
        self,
        *,
        owner: str,
        first: int | None,
        after: str | None,
        status: StoreStatus | None = None,
        search: str | None = None,
    ) -> Page[StoreRecord]:
        """The owner's stores, oldest first. Without `status`, Deleted stores are left out.

        Raises InvalidCursorError for a cursor this API did not return.
        """
        size = self.page_limits.clamp(first)
        query = Store.filter(owner=owner)
        query = (
            query.filter(status=status) if status is not None else query.exclude(status=StoreStatus.DELETED)
        )
        if search:
            query = query.filter(name__icontains=search)
        if after is not None:
            since, last_id = _store_position(after)
            query = query.filter(Q(created_at__gt=since) | Q(created_at=since, id__gt=last_id))
        rows = await query.order_by("created_at", "id").limit(size + 1)
        items = [StoreRecord.of(row) for row in rows[:size]]
        return Page(
            items=items,
            cursors=[
                encode_cursor(_STORE_CURSOR, [store.created_at.isoformat(), store.id]) for store in items
            ],
            has_next_page=len(rows) > size,
        )

    async def list_events(
        self, *, owner: str, store_id: str | None, after: int | None, first: int | None
    ) -> Page[EventRecord] | StoreNotFound:
        """Events after the cursor (an event id), oldest first: of one store, or of all the owner's stores."""
        size = self.page_limits.clamp(first)
        query = StoreEvent.filter(id__gt=after or 0)
        if store_id is not None:
            if not is_store_id(store_id) or not await Store.exists(id=store_id, owner=owner):
                return StoreNotFound(store_id)
            query = query.filter(store_id=store_id)
        else:
            query = query.filter(store__owner=owner)
        rows = await query.order_by("id").limit(size + 1)
        items = [EventRecord.of(row) for row in rows[:size]]
        return Page(items=items, cursors=[str(event.id) for event in items], has_next_page=len(rows) > size)

    async def last_event(self, *, store_id: str) -> EventRecord | None:
        row = await StoreEvent.filter(store_id=store_id).order_by("-id").first()
        return None if row is None else EventRecord.of(row)

    async def last_events(self, *, store_ids: Collection[str]) -> dict[str, EventRecord]:
        """The newest event of each of these stores (those without any are absent), in one query.

        For a page of stores already read for their owner (`list_stores`): the ids are not checked again.
        """
        return {store_id: EventRecord.of(row) for store_id, row in (await newest_events(store_ids)).items()}

    async def list_audit(self, *, owner: str, first: int | None, after: str | None) -> Page[AuditRecord]:
        """The owner's own audited calls, oldest first (raises InvalidCursorError for a foreign cursor)."""
        return await list_audit(actor=owner, first=first, after=after, limits=self.page_limits)

    # --- the rules ---

    async def _create(
        self, *, owner: str, name: str, engine: str, idempotency_key: str | None
    ) -> CreateResult:
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            return InvalidInput(
                "idempotencyKey",
                "length",
                f"An idempotency key has 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters.",
            )
        async with self._create_lock:
            if idempotency_key is not None:
                earlier = await self._by_key(owner, idempotency_key)
                if earlier is not None:
                    return earlier
            violation = validate_store_name(name)
            if violation is not None:
                return InvalidInput("name", violation.rule.value, violation.message)
            if self._catalog.get(engine) is None:
                return UnknownEngine(engine, self._catalog.keys())
            live = Store.exclude(status=StoreStatus.DELETED)
            if await live.filter(owner=owner).count() >= self._max_stores_per_owner:
                return QuotaExceeded(self._max_stores_per_owner)
            if await live.filter(name=name).exists():
                return NameTaken(name)
            namespace = await self._free_namespace(name)
            try:
                store = await insert_store_row(
                    name=name,
                    engine=engine,
                    namespace=namespace,
                    owner=owner,
                    idempotency_key=idempotency_key,
                )
            except IntegrityError:
                # Another process won a race for the name (or the key): report what is there now.
                if idempotency_key is not None:
                    earlier = await self._by_key(owner, idempotency_key)
                    if earlier is not None:
                        return earlier
                return NameTaken(name)
        # Outside the lock: the event's commit need not hold up the next create.
        await announce_created(
            store,
            message=f"Store {name} ({engine}) requested in namespace {namespace}",
            writer=self._writer,
            changes=self._changes,
            owners=self._owners,
        )
        await self._provisioner.submit(store.id)
        return store

    @staticmethod
    async def _by_key(owner: str, idempotency_key: str) -> StoreRecord | None:
        row = await Store.get_or_none(owner=owner, idempotency_key=idempotency_key)
        return None if row is None else StoreRecord.of(row)

    async def _free_namespace(self, name: str) -> str:
        # `store-<name>` is free unless a live store holds it through a derivative (`store-a-b2c3` is both
        # store "a-b2c3"'s namespace and a derivative for store "a"). Namespaces in the cluster that belong
        # to no store are provisioning's to detect; it never adopts them.
        live = Store.exclude(status=StoreStatus.DELETED)
        candidate = namespace_for(name)
        for _ in range(_NAMESPACE_ATTEMPTS):
            if not await live.filter(namespace=candidate).exists():
                return candidate
            candidate = derived_namespace(name)
        raise RuntimeError(f"no free namespace for store {name} after {_NAMESPACE_ATTEMPTS} attempts")

    async def _delete(self, *, owner: str, id: str) -> ChangeResult:
        store = await self.get_store(owner=owner, id=id)
        while True:
            if store is None:
                return StoreNotFound(id)
            if store.status == StoreStatus.DELETING:
                # Asked again: the first request may have been lost with its task (idempotent otherwise).
                await self._provisioner.request_delete(store.id)
                return store
            if store.status == StoreStatus.DELETED:
                return InvalidState(id, store.status, "delete")
            try:
                deleting = await transition(
                    store,
                    StoreStatus.DELETING,
                    reason="DeleteRequested",
                    message=f"Deletion of {store.name} requested",
                    writer=self._writer,
                    changes=self._changes,
                )
            except TransitionConflict:
                # Provisioning moved it meanwhile: read it again and decide on its new status.
                store = await load_store(id)
                continue
            await self._provisioner.request_delete(deleting.id)
            return deleting

    async def _retry(self, *, owner: str, id: str) -> ChangeResult:
        store = await self.get_store(owner=owner, id=id)
        if store is None:
            return StoreNotFound(id)
        if store.status != StoreStatus.FAILED:
            return InvalidState(id, store.status, "retry")
        try:
            store = await transition(
                store,
                StoreStatus.PENDING,
                reason="RetryRequested",
                message=f"Provisioning of {store.name} retried",
                writer=self._writer,
                changes=self._changes,
            )
        except TransitionConflict as conflict:
            return InvalidState(id, conflict.current, "retry")
        await self._provisioner.submit(store.id)
        return store

    def _audited(self, *, actor: str, action: str, target: str, client_address: str | None) -> _Audit:
        return _Audit(actor=actor, action=action, target=target, client_address=client_address)


class _Audit:
    """Writes one AuditEntry when the block ends: success, rejected (with the error's name) or error."""

    def __init__(self, *, actor: str, action: str, target: str, client_address: str | None) -> None:
        self._actor = actor
        self._action = action
        self._target = target
        self._client_address = client_address
        self._outcome = AuditOutcome.SUCCESS
        self._detail: str | None = None

    def result(self, result: StoreRecord | _Rejection) -> None:
        if isinstance(result, StoreRecord):
            self._target = result.id
        else:
            self._outcome, self._detail = AuditOutcome.REJECTED, type(result).__name__

    async def __aenter__(self) -> _Audit:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc_type is not None:
            if not issubclass(exc_type, Exception):
                return  # cancelled: the caller is gone and so, possibly, is the database connection
            self._outcome, self._detail = AuditOutcome.ERROR, exc_type.__name__
        await record_audit(
            actor=self._actor,
            action=self._action,
            target=self._target,
            client_address=self._client_address,
            outcome=self._outcome,
            detail=self._detail,
        )
