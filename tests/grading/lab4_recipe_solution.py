from distlab.locks.api import AcquireTimeout, LockLost
from distlab.locks.zk import (EXCLUSIVE, AwaitWatch, Create, Delete, Exists, GetChildren, GetData, NodeVanished, Now,
                              Sleep)
from distlab.zk.errors import (ConnectionLossError, KeeperError, NoNodeError, OperationTimeoutError,
                               SessionExpiredError)


def acquire_steps(path, prefix, data=b"", timeout=None, kind="lock", blocked_by=EXCLUSIVE, *, predecessor):
    """The lock recipe: yields operations; returns our node's name once it holds the lock."""
    deadline = None if timeout is None else (yield Now()) + timeout
    node = None        # our node's name, once known
    created = False    # a create was sent: its reply may have been lost
    while True:
        try:
            if node is None and created:       # protected create: did the lost one work?
                node = next((c for c in (yield GetChildren(path)) if c.startswith(prefix)), None)
            if node is None:
                created = True
                made = yield Create(f"{path}/{prefix}{kind}-", data, ephemeral=True, sequence=True)
                node = made.rsplit("/", 1)[1]
            children = yield GetChildren(path)
            try:
                ahead = predecessor(children, node, blocked_by)
            except NodeVanished:               # our session expired: the node is gone
                node, created = None, False
                continue
            if ahead is None:
                return node
            try:
                yield GetData(f"{path}/{ahead}", watch=True)
            except NoNodeError:
                continue                       # already gone: look again at once
            if not (yield AwaitWatch(deadline)):
                yield from _give_up(path, node)
                raise AcquireTimeout(f"{path}: not acquired within {timeout} s")
        except (ConnectionLossError, OperationTimeoutError):
            if deadline is not None and (yield Now()) >= deadline:
                yield from _give_up(path, node)
                raise AcquireTimeout(f"{path}: not acquired within {timeout} s (connection lost)")
            yield Sleep(0.05)
        except SessionExpiredError:            # our node died with the session: start over
            node, created = None, False
            if deadline is not None and (yield Now()) >= deadline:
                raise AcquireTimeout(f"{path}: not acquired within {timeout} s (session expired)")
            yield Sleep(0.05)


def _give_up(path, node):
    if node is not None:
        try:
            yield Delete(f"{path}/{node}")
        except KeeperError:
            pass


def release_steps(path, node):
    retried = False
    while True:
        try:
            yield Delete(f"{path}/{node}")
            return
        except NoNodeError:
            if retried:
                return
            raise LockLost(f"{path}: our node {node} was already gone (session expired)")
        except (ConnectionLossError, OperationTimeoutError):
            retried = True
            yield Sleep(0.05)
        except SessionExpiredError:
            raise LockLost(f"{path}: the session expired and took our node {node}")
