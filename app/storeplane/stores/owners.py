"""Which owner each store belongs to, kept in memory so that bus filters never touch the database.

Bus filters run inside `EventBus.publish`, synchronously, once per subscriber and event: they must not
query. Store ids and owners never change after creation, so the index is loaded once at start and extended
by `announce_created` (stores/transitions.py) before the new store's first event is written.
"""

from __future__ import annotations

from storeplane.stores.models import Store


class StoreOwners:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    async def load(self) -> None:
        rows = await Store.all().values_list("id", "owner")
        self._owners.update((str(store_id), str(owner)) for store_id, owner in rows)

    def add(self, *, store_id: str, owner: str) -> None:
        self._owners[store_id] = owner

    def owner_of(self, store_id: str) -> str | None:
        return self._owners.get(store_id)
