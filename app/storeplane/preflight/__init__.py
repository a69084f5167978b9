"""What `storeplane serve` checks before uvicorn starts: the port, helm, the database (and that no other
server holds it) and the cluster.

Each check fails with a `StartupError` whose text is one plain sentence naming what to fix; the CLI prints it
as `storeplane: <sentence>` and exits 2, with no traceback. Without these checks each fault surfaced as a
traceback from deep inside the lifespan, and a port already taken only after the lifespan had migrated the
database and started the watches (uvicorn binds once the lifespan has started).

The checks run one after the other, the local ones first, so the sentence names the first thing to fix; each
has its own time limit. A sentence never holds a secret: the database is named by its file or by its URL
without the password, and every sentence is scrubbed of the API tokens and the password before it leaves.
"""

from __future__ import annotations

import logging

from storeplane.preflight.cluster import check_cluster
from storeplane.preflight.local import check_database, check_helm, check_port
from storeplane.preflight.single_server import check_single_server
from storeplane.preflight.wording import StartupError, public_url, scrub, secrets_of
from storeplane.settings import Settings

__all__ = ["StartupError", "preflight", "public_url"]


async def preflight(settings: Settings, *, host: str, port: int) -> None:
    """Run every check; raise a `StartupError` for the first that fails."""
    # The libraries' warnings ("Config not found: ...") would only repeat what the sentence says.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        await check_port(host=host, port=port)
        await check_helm(settings)
        await check_database(settings)
        await check_single_server(settings)
        await check_cluster(settings)
    except StartupError as exc:
        raise StartupError(scrub(exc.sentence, secrets_of(settings))) from None
    finally:
        logging.disable(previous)
