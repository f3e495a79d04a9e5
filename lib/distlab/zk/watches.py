"""One-shot watches: the server's watch tables (``server/watch/WatchManager``).

A watch is a promise of **one** notification the next time a node changes. The server keeps
two tables, each mapping path -> watchers (``DataTree.dataWatches`` / ``childWatches``):

| table | set by                                            | fires on                      |
|-------|---------------------------------------------------|-------------------------------|
| data  | getData (node exists), exists (even if it is not) | Created, DataChanged, Deleted |
| child | getChildren (node exists)                         | ChildrenChanged, Deleted      |

Which op fires what (``DataTree.createNode`` / ``deleteNode`` / ``setData``)::

    create P/c   NodeCreated on data(P/c); NodeChildrenChanged on child(P)
    delete P/c   NodeDeleted on data(P/c) and child(P/c) (one event per watcher);
                 NodeChildrenChanged on child(P)
    setData X    NodeDataChanged on data(X)

A watcher is any hashable key: on a server it is the session (ZooKeeper's ``ServerCnxn``),
so a session that watches a path twice still gets one event. Triggering removes the watch
before the event is returned; ``remove_watcher`` drops everything a session left behind
(``WatchManager.removeWatcher``, called when a connection closes). Within a path, watchers
are notified in registration order (ZooKeeper uses a HashSet; distlab wants determinism).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Hashable, Iterable

__all__ = ["EventType", "KeeperState", "WatchedEvent", "WatchManager"]


class EventType(enum.IntEnum):
    """``Watcher.Event.EventType`` values for node events, spelled as ZooKeeper spells them."""

    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4


class KeeperState(enum.IntEnum):
    """``Watcher.Event.KeeperState`` values a distlab client can be in."""

    Disconnected = 0
    SyncConnected = 3
    Closed = 7
    Expired = -112


@dataclass(frozen=True, slots=True)
class WatchedEvent:
    """One notification (``WatchedEvent``), addressed to ``watcher``.

    ``zxid`` is the txn that fired it; ``state`` is always SyncConnected for node events.
    """

    type: EventType
    path: str
    zxid: int
    watcher: Hashable
    state: KeeperState = KeeperState.SyncConnected


class WatchManager:
    """One table of one-shot watches, path -> watchers (``WatchManager``, standard mode only).

    ``DataTree`` owns two of them (data and child). Persistent and recursive watches
    (``addWatch``, 3.6+) are not modelled.
    """

    def __init__(self) -> None:
        # dicts used as insertion-ordered sets, so notification order is reproducible
        self._watchers_by_path: dict[str, dict[Hashable, None]] = {}
        self._paths_by_watcher: dict[Hashable, dict[str, None]] = {}

    def add_watch(self, path: str, watcher: Hashable) -> bool:
        """Watch ``path`` for ``watcher``; False if that watch was already set."""
        watchers = self._watchers_by_path.setdefault(path, {})
        if watcher in watchers:
            return False
        watchers[watcher] = None
        self._paths_by_watcher.setdefault(watcher, {})[path] = None
        return True

    def trigger(
        self,
        path: str,
        event_type: EventType,
        zxid: int,
        suppress: Iterable[Hashable] = (),
    ) -> list[WatchedEvent]:
        """Remove every watch on ``path`` and return one event per watcher not in ``suppress``.

        Rule from ``WatchManager.triggerWatch``: suppressed watchers lose their watch too
        (that is how a session watching a deleted node in both tables gets one NodeDeleted).
        """
        watchers = self._watchers_by_path.pop(path, None)
        if not watchers:
            return []
        skip = set(suppress)
        events = []
        for watcher in watchers:
            paths = self._paths_by_watcher[watcher]
            del paths[path]
            if not paths:
                del self._paths_by_watcher[watcher]
            if watcher not in skip:
                events.append(WatchedEvent(event_type, path, zxid, watcher))
        return events

    def remove_watcher(self, watcher: Hashable) -> int:
        """Drop every watch ``watcher`` holds (``WatchManager.removeWatcher``); return how many."""
        paths = self._paths_by_watcher.pop(watcher, {})
        for path in paths:
            watchers = self._watchers_by_path[path]
            del watchers[watcher]
            if not watchers:
                del self._watchers_by_path[path]
        return len(paths)

    def contains(self, path: str, watcher: Hashable) -> bool:
        """True if ``watcher`` watches ``path`` in this table."""
        return watcher in self._watchers_by_path.get(path, ())

    def watchers_of(self, path: str) -> list[Hashable]:
        """The watchers of ``path``, in registration order."""
        return list(self._watchers_by_path.get(path, ()))

    def paths_of(self, watcher: Hashable) -> list[str]:
        """The paths ``watcher`` watches, in registration order."""
        return list(self._paths_by_watcher.get(watcher, ()))

    @property
    def watch_count(self) -> int:
        """Number of (path, watcher) pairs."""
        return sum(len(w) for w in self._watchers_by_path.values())

    def __len__(self) -> int:
        return self.watch_count
