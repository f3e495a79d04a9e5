"""ZooKeeper's data model, sans I/O: the znode tree, sessions, watches, multi (ZooKeeper 3.8).

Modules, one concept each:

- ``paths``    -- ``PathUtils.validatePath`` and path helpers
- ``errors``   -- ``KeeperException.Code`` as exceptions with kazoo's names
- ``acl``      -- ACLs: permission bits, world/digest/ip/auth schemes, ``checkACL``, ``fixupACL``
- ``stat``     -- ``StatPersisted`` / ``Stat``, ``CreateMode``, version arithmetic, 1 MB limit
- ``watches``  -- ``WatchManager``: one-shot data and child watches, ``WatchedEvent``
- ``ops``      -- requests, txns, results and ``prepare`` (``PrepRequestProcessor``)
- ``tree``     -- ``DataTree``: ``apply`` txns, reads, snapshot, digest
- ``sessions`` -- ``SessionTracker`` / ``ExpiryQueue``: tick buckets and expiry
- ``server``   -- ``ZooKeeperServer``: one in-process server with kazoo-shaped clients

Nothing here opens a socket, starts a thread, reads a clock or uses the global ``random``:
time is always an ``int`` of milliseconds passed in by the caller.
"""

from __future__ import annotations

from distlab.zk.acl import *  # noqa: F401,F403
from distlab.zk.acl import __all__ as _acl_all
from distlab.zk.errors import *  # noqa: F401,F403
from distlab.zk.errors import __all__ as _errors_all
from distlab.zk.ops import *  # noqa: F401,F403
from distlab.zk.ops import __all__ as _ops_all
from distlab.zk.paths import *  # noqa: F401,F403
from distlab.zk.plugged import *  # noqa: F401,F403
from distlab.zk.plugged import __all__ as _plugged_all
from distlab.zk.paths import __all__ as _paths_all
from distlab.zk.server import *  # noqa: F401,F403
from distlab.zk.server import __all__ as _server_all
from distlab.zk.sessions import *  # noqa: F401,F403
from distlab.zk.sessions import __all__ as _sessions_all
from distlab.zk.stat import *  # noqa: F401,F403
from distlab.zk.stat import __all__ as _stat_all
from distlab.zk.tree import *  # noqa: F401,F403
from distlab.zk.tree import __all__ as _tree_all
from distlab.zk.watches import *  # noqa: F401,F403
from distlab.zk.watches import __all__ as _watches_all

__all__ = [
    *_paths_all,
    *_errors_all,
    *_acl_all,
    *_stat_all,
    *_watches_all,
    *_ops_all,
    *_tree_all,
    *_sessions_all,
    *_server_all,
    *_plugged_all,
]
