"""The labels Storeplane puts on what it creates: how a namespace and its objects name their store."""

from __future__ import annotations

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "storeplane"
STORE_ID_LABEL = "storeplane.io/store-id"
"""On the store's namespace (set by provisioning) and on every object the chart renders (docs/chart.md)."""
