"""Another server already on this database is a startup error, named by the holder's pid."""

from __future__ import annotations

from storeplane.db.exclusive import AnotherServerRunning, check_free
from storeplane.preflight.wording import StartupError
from storeplane.settings import Settings


async def check_single_server(settings: Settings) -> None:
    try:
        await check_free(settings)
    except AnotherServerRunning as exc:
        raise StartupError(exc.sentence) from None
