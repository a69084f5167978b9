"""Watches, as their users import them: the generic list-then-watch reflector of storeplane.k8s.

It knows no Storeplane resource (their watch list is `storeplane.observing.watches`). Its parts: what a watch
follows and how (`watchspec.py`), the objects and the cache diff (`objects.py`), one kind's loop and cache
(`watcher.py`), the guarded set of watchers (`watchset.py`) and their backoff (`backoff.py`).
"""

from __future__ import annotations

from storeplane.k8s.objects import Obj, cache_changes, diff_listing
from storeplane.k8s.watcher import Sink, Watcher, WatcherHealth, WatchEvent
from storeplane.k8s.watchset import WatchSet
from storeplane.k8s.watchspec import WatchSettings, WatchSpec

__all__ = [
    "Obj",
    "Sink",
    "WatchEvent",
    "WatchSet",
    "WatchSettings",
    "WatchSpec",
    "Watcher",
    "WatcherHealth",
    "cache_changes",
    "diff_listing",
]
