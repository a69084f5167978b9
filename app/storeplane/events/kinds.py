"""The kinds of a StoreEvent, as plain enums: the ORM model, the read model and the API all use them."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """Mirrors the Kubernetes Event types."""

    NORMAL = "Normal"
    WARNING = "Warning"


class EventSource(StrEnum):
    API = "api"
    HELM = "helm"
    KUBERNETES = "kubernetes"
