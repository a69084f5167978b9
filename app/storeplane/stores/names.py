"""Store names: what a user may type, and the namespace derived from it. Pure functions.

A store name becomes the helm release name, the first label of the store's host name (`<name>.<base domain>`)
and part of its namespace (`store-<name>`), so it must be valid as all three.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from enum import StrEnum

NAMESPACE_PREFIX = "store-"
# The WooCommerce chart refuses release names over 40 characters: its longest derived names
# (`<r>-setup-<8 hex>` and that Job's pods, `data-<r>-mariadb-0`, `<r>-mariadb-<revision hash>`) must stay
# within Kubernetes' 63 (docs/chart.md, charts/engines.yaml). The namespace `store-<name>-<4 chars>` then
# needs at most 51.
MAX_NAME_LENGTH = 40
DERIVED_SUFFIX_LENGTH = 4
_SUFFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"

# Names that would confuse people or collide with infrastructure: Kubernetes' own namespaces, host names a
# store must not take under the base domain, and Storeplane itself.
RESERVED_NAMES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "admin",
        "api",
        "app",
        "auth",
        "dashboard",
        "graphql",
        "healthz",
        "readyz",
        "ingress",
        "ingress-nginx",
        "cert-manager",
        "localhost",
        "mail",
        "smtp",
        "ftp",
        "ns1",
        "ns2",
        "root",
        "static",
        "status",
        "storeplane",
        "system",
        "www",
    }
)


class NameRule(StrEnum):
    """The rule a store name broke."""

    REQUIRED = "required"
    TOO_LONG = "too_long"
    LOWERCASE = "lowercase"
    CHARACTERS = "characters"
    START = "start"
    END = "end"
    RESERVED = "reserved"


@dataclass(frozen=True)
class NameViolation:
    rule: NameRule
    message: str


def validate_store_name(name: str) -> NameViolation | None:
    """None when `name` is a valid store name, else the first rule it breaks.

    Rules: a DNS-1035 label (lowercase letters, digits and "-", starting with a letter, ending with a letter
    or digit: helm release names must be DNS-1035), at most MAX_NAME_LENGTH characters, not reserved.
    Messages never repeat the name itself, which may be long or hostile.
    """
    if not name:
        return NameViolation(NameRule.REQUIRED, "A store name is required.")
    if len(name) > MAX_NAME_LENGTH:
        return NameViolation(
            NameRule.TOO_LONG,
            f"A store name has at most {MAX_NAME_LENGTH} characters (this one has {len(name)}).",
        )
    if any("A" <= char <= "Z" for char in name):
        return NameViolation(NameRule.LOWERCASE, "A store name is lowercase: use a-z, not A-Z.")
    for char in name:
        if not ("a" <= char <= "z" or "0" <= char <= "9" or char == "-"):
            return NameViolation(
                NameRule.CHARACTERS,
                f"A store name has only lowercase letters, digits and '-' (found {char!r}).",
            )
    if not "a" <= name[0] <= "z":
        return NameViolation(NameRule.START, "A store name starts with a letter.")
    if name[-1] == "-":
        return NameViolation(NameRule.END, "A store name ends with a letter or a digit.")
    if name in RESERVED_NAMES:
        return NameViolation(NameRule.RESERVED, f"{name!r} is reserved: choose another store name.")
    return None


def namespace_for(name: str) -> str:
    """The store's namespace, `store-<name>`, for a name that passed validate_store_name."""
    return NAMESPACE_PREFIX + name


def derived_namespace(name: str, *, suffix: str | None = None) -> str:
    """`store-<name>-<4 random characters>`, for when `store-<name>` exists but belongs to no store.

    The service layer uses it when the plain namespace is taken by something that is not ours (an orphan
    left by a crash, or a namespace someone created by hand): Storeplane never adopts or deletes those.
    The caller checks that the derivative is free too and draws again if not; the partial unique index on
    live stores' namespaces catches a race between two creates.
    """
    if suffix is None:
        suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(DERIVED_SUFFIX_LENGTH))
    return f"{NAMESPACE_PREFIX}{name}-{suffix}"
