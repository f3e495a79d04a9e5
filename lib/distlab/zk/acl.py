"""Access control lists: who may do what to a znode (``ZooDefs.Perms``, ``server/auth/*``).

Every znode carries a list of ``ACL(perms, Id(scheme, id))`` entries; a request is allowed if
one entry grants the permission bit it needs to one of the identities its connection holds.
The bits (``ZooDefs.Perms``) and who checks them (``PrepRequestProcessor`` for writes,
``FinalRequestProcessor`` for reads)::

    READ   1   getData, getChildren, exists (when the node exists), check
    WRITE  2   setData
    CREATE 4   create a child                      (checked on the parent)
    DELETE 8   delete a child                      (checked on the parent)
    ADMIN  16  setACL; getACL needs READ or ADMIN  (without ADMIN, digests are masked)

Schemes (``ProviderRegistry``):

- ``world:anyone`` — everybody;
- ``digest:user:<base64 sha1("user:password")>`` — a connection holds it after
  ``addauth digest user:password`` (``DigestAuthenticationProvider.generateDigest``);
- ``ip:10.0.0.0/8`` or ``ip:127.0.0.1`` — every connection holds its own address;
- ``auth`` — only in a create/setACL request: replaced by every *authenticated* identity
  of the requester (digest, not ip); InvalidACL if it has none (``fixupACL``).

An empty ACL list on a node means "no checks" (``ZooKeeperServer.checkACL``); ZooKeeper's own
nodes have ``world:anyone`` with all bits, except ``/zookeeper/config`` (READ only).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Iterable, Sequence

from distlab.zk.errors import InvalidACLError, NoAuthError

__all__ = [
    "Perms",
    "Id",
    "ACL",
    "ANYONE",
    "OPEN_ACL_UNSAFE",
    "READ_ACL_UNSAFE",
    "CREATOR_ALL_ACL",
    "digest",
    "authenticate",
    "check_acl",
    "fixup_acl",
    "masked_for",
]


class Perms:
    """``ZooDefs.Perms`` bits."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


@dataclass(frozen=True, slots=True)
class Id:
    """``data.Id``: an identity, e.g. ``Id("digest", "bob:<base64 sha1>")``."""

    scheme: str
    id: str


@dataclass(frozen=True, slots=True)
class ACL:
    """``data.ACL``: the permission bits granted to an identity."""

    perms: int
    id: Id


ANYONE = Id("world", "anyone")
OPEN_ACL_UNSAFE = (ACL(Perms.ALL, ANYONE),)
READ_ACL_UNSAFE = (ACL(Perms.READ, ANYONE),)
CREATOR_ALL_ACL = (ACL(Perms.ALL, Id("auth", "")),)


def digest(user_password: str) -> str:
    """``DigestAuthenticationProvider.generateDigest``: "user:" + base64(sha1("user:password"))."""
    user = user_password.split(":", 1)[0]
    hashed = base64.b64encode(hashlib.sha1(user_password.encode("utf-8")).digest()).decode("ascii")
    return f"{user}:{hashed}"


def authenticate(scheme: str, auth: bytes, remote_ip: str) -> Id | None:
    """The identity ``addauth scheme auth`` gives a connection, or None (AuthFailed).

    ``handleAuthentication`` of each provider: digest always succeeds (the password is only
    compared later, through the digest stored in an ACL); ip names the connection's own
    address; any other scheme has no provider.
    """
    if scheme == "digest":
        return Id("digest", digest(auth.decode("utf-8", errors="replace")))
    if scheme == "ip":
        return Id("ip", remote_ip)
    return None


def _ip_matches(client: str, pattern: str) -> bool:
    """``IPAuthenticationProvider.matches``: an address, or a network in CIDR notation."""
    try:
        return ipaddress.ip_address(client) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _matches(held: Id, granted: Id) -> bool:
    if held.scheme != granted.scheme:
        return False
    if granted.scheme == "ip":
        return _ip_matches(held.id, granted.id)
    return held.id == granted.id


def check_acl(acl: Sequence[ACL], perm: int, auth: Iterable[Id], path: str | None = None) -> None:
    """Raise NoAuthError unless ``acl`` grants ``perm`` to one of ``auth`` (``checkACL``)."""
    if not acl:
        return
    auth = list(auth)
    if any(a.scheme == "super" for a in auth):
        return
    for entry in acl:
        if entry.perms & perm:
            if entry.id == ANYONE:
                return
            if any(_matches(held, entry.id) for held in auth):
                return
    raise NoAuthError(path, f"no ACL entry grants permission {perm} to {_names(auth)}")


def _names(auth: Iterable[Id]) -> str:
    return ", ".join(f"{a.scheme}:{a.id}" for a in auth) or "nobody"


def _valid_id(ident: Id) -> bool:
    if ident.scheme == "digest":
        return ident.id.count(":") == 1
    if ident.scheme == "ip":
        try:
            ipaddress.ip_network(ident.id, strict=False)
            return True
        except ValueError:
            return False
    return False


def fixup_acl(path: str, auth: Iterable[Id], acl: Sequence[ACL]) -> tuple[ACL, ...]:
    """Check and expand a requested ACL (``PrepRequestProcessor.fixupACL``).

    Duplicates go; an empty list, an unknown scheme, a malformed id, or ``auth`` without an
    authenticated identity is InvalidACL.
    """
    unique: list[ACL] = []
    for entry in acl:
        if entry not in unique:
            unique.append(entry)
    if not unique:
        raise InvalidACLError(path, "an ACL must have at least one entry")
    result: list[ACL] = []
    for entry in unique:
        if entry.id == ANYONE:
            result.append(entry)
        elif entry.id.scheme == "auth":
            authenticated = [a for a in auth if a.scheme == "digest"]  # ip is not "authenticated"
            if not authenticated:
                raise InvalidACLError(path, "scheme 'auth' but the client has not authenticated")
            result += [ACL(entry.perms, a) for a in authenticated]
        elif _valid_id(entry.id):
            result.append(entry)
        else:
            raise InvalidACLError(path, f"invalid ACL id {entry.id.scheme}:{entry.id.id}")
    return tuple(result)


def masked_for(acl: Sequence[ACL], may_admin: bool) -> list[ACL]:
    """getACL without ADMIN shows digests as "user:x" (``FinalRequestProcessor``, getACL)."""
    if may_admin:
        return list(acl)
    return [
        ACL(e.perms, Id(e.id.scheme, e.id.id.split(":", 1)[0] + ":x")) if e.id.scheme == "digest" else e
        for e in acl
    ]
