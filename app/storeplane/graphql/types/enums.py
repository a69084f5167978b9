"""The model enums, registered with GraphQL under their own names; types import them from here."""

from __future__ import annotations

import strawberry

from storeplane.audit.models import AuditOutcome
from storeplane.events.models import EventSource, EventType
from storeplane.stores.models import StoreStatus

__all__ = ["AuditOutcome", "EventSource", "EventType", "StoreStatus"]

# strawberry.enum marks the class itself, so every annotation with these classes refers to the GraphQL enum.
strawberry.enum(StoreStatus, description="Provisioning state of a store.")
strawberry.enum(EventType, description="Normal or Warning, as in Kubernetes.")
strawberry.enum(EventSource, description="Who reported the event: the API, helm or Kubernetes.")
strawberry.enum(AuditOutcome, description="How an audited call ended.")
