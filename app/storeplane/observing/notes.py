"""Writing the observer's notes as StoreEvents (source kubernetes), without repeating an earlier process's.

After a restart the initial list replays every existing object and Event as ADDED. A note that came from a
list and whose key (kind, name, reason, message) is already in the store's history is skipped. The keys are
loaded per store on its first note, not for every live store at start: most stores' histories are never
replayed against, and one query per store has no parameter limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

from storeplane.events.models import EventSource, StoreEvent
from storeplane.events.writer import EventWriter, StoreEventDraft
from storeplane.observing.messages import Note

NoteKey = tuple[str, str, str, str]


class NoteWriter:
    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer
        self._written: dict[str, set[NoteKey]] = {}

    def forget(self, store_id: str) -> None:
        self._written.pop(store_id, None)

    async def submit(self, store_id: str, notes: list[Note], *, from_list: bool) -> list[asyncio.Future[Any]]:
        """Queue the notes with the writer; the futures resolve once each is committed."""
        written = self._written.get(store_id)
        if written is None:
            loaded = await _written_keys(store_id)
            # Another submit for the same store may have loaded it while this one waited.
            written = self._written.setdefault(store_id, loaded)
            written |= loaded
        futures: list[asyncio.Future[Any]] = []
        for note in notes:
            if from_list and note.key in written:
                continue
            written.add(note.key)
            draft = StoreEventDraft(
                store_id=store_id,
                type=note.type,
                reason=note.reason,
                message=note.message,
                source=EventSource.KUBERNETES,
                involved_kind=note.kind,
                involved_name=note.name,
            )
            futures.append(await self._writer.submit(draft))
        return futures


async def _written_keys(store_id: str) -> set[NoteKey]:
    rows = await StoreEvent.filter(source=EventSource.KUBERNETES, store_id=store_id).values_list(
        "involved_kind", "involved_name", "reason", "message"
    )
    return {(str(kind), str(name), str(reason), str(message)) for kind, name, reason, message in rows}
