"""A znode's metadata (``StatPersisted``, ``Stat``), its create mode, and the size limit.

Two records, as in ZooKeeper's jute files (``zookeeper.jute``):

- ``StatPersisted`` is what the tree stores (and snapshots) per node. Its ``cversion`` is the
  *stored* counter: since ZOOKEEPER-1046 it counts child **creates** only.
- ``Stat`` is what a caller sees. ``DataNode.copyStat`` adds ``dataLength`` and ``numChildren``
  and translates the counter: ``cversion = 2 * stored - numChildren``, which equals creates +
  deletes, because every child that is gone was deleted.

Field names follow jute (and kazoo's ``ZnodeStat``: ``ephemeralOwner``, ``dataLength``,
``numChildren``), so code reading a distlab ``Stat`` also reads a kazoo one.

Counters are Java ``int`` values and wrap like them (``to_int32``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "JUTE_MAXBUFFER",
    "CreateMode",
    "StatPersisted",
    "Stat",
    "to_int32",
    "next_version",
]

# jute.maxbuffer's default (BinaryInputArchive, ZKClientConfig): 0xfffff bytes. distlab's rule:
# the data carried by one request (summed over a multi's ops) may be at most this many bytes.
JUTE_MAXBUFFER = 0xFFFFF  # 1,048,575

_INT32_SPAN = 1 << 32
_INT32_MIN = -(1 << 31)


def to_int32(value: int) -> int:
    """``value`` wrapped into Java's ``int`` range: ``to_int32(2**31) == -2**31``."""
    return (value - _INT32_MIN) % _INT32_SPAN + _INT32_MIN


def next_version(current: int) -> int:
    """The version after ``current``, as ``PrepRequestProcessor.checkAndIncVersion`` computes it.

    ``current + 1`` in Java ``int`` arithmetic (2147483647 is followed by -2147483648), except
    that -1 is skipped and becomes 0, because -1 means "any version" to setData/delete/check
    (ZOOKEEPER-4743, on ZooKeeper's master branch; 3.8.x still hands out -1).
    """
    nxt = to_int32(current + 1)
    return 0 if nxt == -1 else nxt


class CreateMode(enum.IntEnum):
    """The four node types distlab models, with ``CreateMode.java``'s flag values.

    Bit 0 is "ephemeral" (deleted when its session ends), bit 1 is "sequential" (the server
    appends the parent's 10-digit counter to the name). ZooKeeper's CONTAINER (4) and the TTL
    modes (5, 6) are not modelled.
    """

    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3

    @property
    def is_ephemeral(self) -> bool:
        """Deleted when the owning session ends (``CreateMode.isEphemeral``)."""
        return bool(self & 1)

    @property
    def is_sequential(self) -> bool:
        """The server appends a 10-digit counter to the name (``CreateMode.isSequential``)."""
        return bool(self & 2)

    @classmethod
    def of(cls, *, ephemeral: bool = False, sequence: bool = False) -> CreateMode:
        """The mode for kazoo-style flags: ``CreateMode.of(ephemeral=True, sequence=True)``."""
        return cls((1 if ephemeral else 0) | (2 if sequence else 0))


@dataclass(frozen=True, slots=True)
class StatPersisted:
    """A node's stored metadata (jute ``StatPersisted``), as ``DataTree.createStat`` fills it.

    - czxid/ctime: zxid and time of the create; never change.
    - mzxid/mtime: zxid and time of the last setData (the create at first).
    - pzxid: zxid of the last child create or delete (the create at first).
    - version: number of setData calls; cversion: number of child *creates* (stored form);
      aversion: number of setACL calls.
    - ephemeralOwner: the owning session id, or 0 for a persistent node.
    """

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int  # noqa: N815 (jute's and kazoo's spelling)
    pzxid: int

    @classmethod
    def for_create(cls, zxid: int, time: int, ephemeral_owner: int) -> StatPersisted:
        """The stat of a new node (``DataTree.createStat``): all zxids = the create's zxid."""
        return cls(zxid, zxid, time, time, 0, 0, 0, ephemeral_owner, zxid)

    def to_stat(self, data_length: int, num_children: int) -> Stat:
        """The caller's view (``DataNode.copyStat``): cversion = 2 * stored - numChildren."""
        return Stat(
            czxid=self.czxid,
            mzxid=self.mzxid,
            ctime=self.ctime,
            mtime=self.mtime,
            version=self.version,
            cversion=to_int32(2 * self.cversion - num_children),
            aversion=self.aversion,
            ephemeralOwner=self.ephemeralOwner,
            dataLength=data_length,
            numChildren=num_children,
            pzxid=self.pzxid,
        )


@dataclass(frozen=True, slots=True)
class Stat:
    """A node's metadata as callers see it (jute ``Stat``; kazoo's ``ZnodeStat`` fields).

    ``cversion`` is the visible count of child changes (creates + deletes), see the module
    docstring. The kazoo convenience names are provided as properties.
    """

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int  # noqa: N815
    dataLength: int  # noqa: N815
    numChildren: int  # noqa: N815
    pzxid: int

    # kazoo ZnodeStat's readable aliases
    @property
    def acl_version(self) -> int:
        """aversion (kazoo's name)."""
        return self.aversion

    @property
    def children_version(self) -> int:
        """cversion (kazoo's name)."""
        return self.cversion

    @property
    def created(self) -> float:
        """ctime in seconds."""
        return self.ctime / 1000.0

    @property
    def last_modified(self) -> float:
        """mtime in seconds."""
        return self.mtime / 1000.0

    @property
    def owner_session_id(self) -> int | None:
        """The owning session, or None for a persistent node."""
        return self.ephemeralOwner or None

    @property
    def creation_transaction_id(self) -> int:
        """czxid (kazoo's name)."""
        return self.czxid

    @property
    def last_modified_transaction_id(self) -> int:
        """mzxid (kazoo's name)."""
        return self.mzxid

    @property
    def data_length(self) -> int:
        """dataLength (kazoo's name)."""
        return self.dataLength

    @property
    def children_count(self) -> int:
        """numChildren (kazoo's name)."""
        return self.numChildren
