"""The API's enums, declared here: the domain's classes stay plain (strawberry.enum would mark them).

Each mirrors its domain enum member for member, same names and values (a test holds them to it), and
`mirror` converts between the two by name, the part of an enum that GraphQL shows.
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

import strawberry

E = TypeVar("E", bound=Enum)


def mirror(member: Enum, into: type[E]) -> E:
    """The member of `into` with the same name: a domain value as the API's, or back."""
    return into[member.name]


@strawberry.enum(description="Provisioning state of a store.")
class StoreStatus(Enum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    FAILED = "Failed"
    DELETING = "Deleting"
    DELETED = "Deleted"


@strawberry.enum(description="Normal or Warning, as in Kubernetes.")
class EventType(Enum):
    NORMAL = "Normal"
    WARNING = "Warning"


@strawberry.enum(description="Who reported the event: the API, helm or Kubernetes.")
class EventSource(Enum):
    API = "api"
    HELM = "helm"
    KUBERNETES = "kubernetes"


@strawberry.enum(description="How an audited call ended.")
class AuditOutcome(Enum):
    SUCCESS = "success"
    REJECTED = "rejected"
    ERROR = "error"
