"""The store service: the rules for creating, deleting, retrying and reading stores, per caller.

Every caller sees and changes only their own stores: another owner's store is reported exactly like a missing
one (StoreNotFound), so ids leak nothing. Expected failures are returned as values (the dataclasses below);
exceptions mean a bug or an infrastructure fault.

Each transition is committed first (a compare-and-set on the status, so a concurrent change by provisioning
is never overwritten), then recorded as an api StoreEvent through the single EventWriter, then published as
StoreChanged, and only then handed to the provisioner. A crash in between leaves the request in the row, where
the reconciler finds it.

Deleting twice: `delete_store` on a store that is already Deleting is idempotent (it returns the store and
changes nothing); on a Deleted store it returns InvalidState.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from storeplane.audit.models import AuditOutcome
from storeplane.audit.service import record_audit
from storeplane.engines.catalog import Catalog
from storeplane.events.models import EventSource, EventType, StoreEvent
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.pagination import Page, PageLimits, decode_cursor, encode_cursor
from storeplane.provisioning.protocol import Provisioner
from storeplane.stores.changes import ChangeKind, StoreChanges, publish_store_changed
from storeplane.stores.models import Store, StoreStatus
from storeplane.stores.names import derived_namespace, namespace_for, validate_store_name
from storeplane.stores.owners import StoreOwners

# The idempotency_key column's width.
MAX_IDEMPOTENCY_KEY_LENGTH = 128
_STORE_CURSOR = "store"
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


CreateResult = Store | InvalidInput | NameTaken | QuotaExceeded | UnknownEngine
ChangeResult = Store | StoreNotFound | InvalidState
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

    async def get_store(self, *, owner: str, id: str) -> Store | None:
        return await Store.get_or_none(id=id, owner=owner)

    async def list_stores(
        self,
        *,
        owner: str,
        first: int | None,
        after: str | None,
        status: StoreStatus | None = None,
        search: str | None = None,
    ) -> Page[Store]:
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
            created, last_id = decode_cursor(_STORE_CURSOR, after, 2)
            since = datetime.fromisoformat(str(created))
            query = query.filter(Q(created_at__gt=since) | Q(created_at=since, id__gt=str(last_id)))
        rows = await query.order_by("created_at", "id").limit(size + 1)
        items = rows[:size]
        return Page(
            items=items,
            cursors=[
                encode_cursor(_STORE_CURSOR, [store.created_at.isoformat(), store.id]) for store in items
            ],
            has_next_page=len(rows) > size,
        )

    async def list_events(
        self, *, owner: str, store_id: str | None, after: int | None, first: int | None
    ) -> Page[StoreEvent] | StoreNotFound:
        """Events after the cursor (an event id), oldest first: of one store, or of all the owner's stores."""
        size = self.page_limits.clamp(first)
        query = StoreEvent.filter(id__gt=after or 0)
        if store_id is not None:
            if not await Store.exists(id=store_id, owner=owner):
                return StoreNotFound(store_id)
            query = query.filter(store_id=store_id)
        else:
            query = query.filter(store__owner=owner)
        rows = await query.order_by("id").limit(size + 1)
        items = rows[:size]
        return Page(items=items, cursors=[str(event.id) for event in items], has_next_page=len(rows) > size)

    async def last_event(self, *, store_id: str) -> StoreEvent | None:
        return await StoreEvent.filter(store_id=store_id).order_by("-id").first()

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
                earlier = await Store.get_or_none(owner=owner, idempotency_key=idempotency_key)
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
                store = await Store.create(
                    name=name,
                    engine=engine,
                    status=StoreStatus.PENDING,
                    namespace=namespace,
                    helm_release=name,
                    owner=owner,
                    idempotency_key=idempotency_key,
                )
            except IntegrityError:
                # Another process won a race for the name (or the key): report what is there now.
                if idempotency_key is not None:
                    earlier = await Store.get_or_none(owner=owner, idempotency_key=idempotency_key)
                    if earlier is not None:
                        return earlier
                return NameTaken(name)
        self._owners.add(store_id=store.id, owner=owner)
        await self._announce(
            store,
            ChangeKind.CREATED,
            reason="Created",
            message=f"Store {name} ({engine}) requested in namespace {namespace}",
        )
        await self._provisioner.submit(store.id)
        return store

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
        store = await Store.get_or_none(id=id, owner=owner)
        if store is None:
            return StoreNotFound(id)
        while True:
            if store.status == StoreStatus.DELETING:
                return store
            if store.status == StoreStatus.DELETED:
                return InvalidState(id, store.status, "delete")
            if await self._transition(store, expected=store.status, to=StoreStatus.DELETING):
                break
            store = await Store.get(id=id)  # provisioning changed it meanwhile: decide again
        await self._announce(
            store, ChangeKind.UPDATED, reason="DeleteRequested", message=f"Deletion of {store.name} requested"
        )
        await self._provisioner.request_delete(store.id)
        return store

    async def _retry(self, *, owner: str, id: str) -> ChangeResult:
        store = await Store.get_or_none(id=id, owner=owner)
        if store is None:
            return StoreNotFound(id)
        if store.status != StoreStatus.FAILED or not await self._transition(
            store, expected=StoreStatus.FAILED, to=StoreStatus.PENDING, clear_failure=True
        ):
            current = await Store.get(id=id)
            return InvalidState(id, current.status, "retry")
        await self._announce(
            store,
            ChangeKind.UPDATED,
            reason="RetryRequested",
            message=f"Provisioning of {store.name} retried",
        )
        await self._provisioner.submit(store.id)
        return store

    @staticmethod
    async def _transition(
        store: Store, *, expected: StoreStatus, to: StoreStatus, clear_failure: bool = False
    ) -> bool:
        """Compare-and-set the status in the database; on success, update `store` to match."""
        values: dict[str, object] = {"status": to, "updated_at": datetime.now(UTC)}
        if clear_failure:
            values["failure_reason"] = None
        changed = await Store.filter(id=store.id, status=expected).update(**values)
        if changed != 1:
            return False
        for field, value in values.items():
            setattr(store, field, value)
        return True

    async def _announce(self, store: Store, kind: ChangeKind, *, reason: str, message: str) -> None:
        await self._writer.write(
            StoreEventDraft(
                store_id=store.id,
                type=EventType.NORMAL,
                reason=reason,
                message=message,
                source=EventSource.API,
            )
        )
        publish_store_changed(self._changes, store, kind)

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

    def result(self, result: Store | _Rejection) -> None:
        if isinstance(result, Store):
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
