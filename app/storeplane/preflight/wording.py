"""How a start-up failure is worded: one line, naming what to fix, with no secret in it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from storeplane.settings import Settings
from storeplane.urls import public_url as public_url  # re-exported for the checks

# Every sentence is cut to this many characters: enough for a path, an address and the fix.
SENTENCE_MAX = 400


class StartupError(Exception):
    """`storeplane serve` cannot start; `sentence` says what to fix, in one line with no secret in it."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence)
        self.sentence = sentence


def os_reason(exc: OSError) -> str:
    """The system's words for an OSError ("connection refused"), without the path or the errno number."""
    # By the number where there is one: asyncio words a refused connection as "Connect call failed (...)".
    text = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
    if not text:
        return one_line(exc)
    return text[0].lower() + text[1:]


def one_line(exc: BaseException) -> str:
    """The exception's text on one line, cut short, without a closing full stop (a sentence follows)."""
    text = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    return text[:200]


def secrets_of(settings: Settings) -> list[str]:
    found = list(settings.api_tokens)
    password = urlsplit(settings.database_url).password
    if password:
        found.append(password)
    return found


def scrub(sentence: str, secrets: Iterable[str]) -> str:
    """The sentence on one line, cut to SENTENCE_MAX, with every secret masked (a last line of defence)."""
    sentence = " ".join(sentence.split())
    for secret in sorted(secrets, key=len, reverse=True):
        sentence = sentence.replace(secret, "***")
    return sentence if len(sentence) <= SENTENCE_MAX else sentence[: SENTENCE_MAX - 3] + "..."
