"""Ensemble configuration and the pluggable decision functions (the lab seams).

``EnsembleConfig`` is ZooKeeper's ``zoo.cfg`` reduced to what the protocol reads: who votes,
who observes, and the time limits counted in ticks (``tickTime``, ``initLimit``,
``syncLimit``). ``Impl`` bundles the pure decision functions a server uses; a lab passes its
learner's versions here — nothing is monkey-patched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distlab.sansio import UsageError
from distlab.zk.tree import DataTree
from distlab.zab.broadcast import ProcessAck, process_ack
from distlab.zab.discovery import EpochToPropose, epoch_to_propose
from distlab.zab.election import HandleNotification, VoteOrder, handle_notification, vote_order
from distlab.zab.follower import FollowerStepFn, follower_step
from distlab.zab.learner_sync import SyncStepFn, sync_step
from distlab.zab.quorum import HasQuorum, has_quorum
from distlab.zab.recovery import RecoverHistory, recover_history
from distlab.zab.sync import ChooseSyncMode, choose_sync_mode

__all__ = ["EnsembleConfig", "Impl"]


@dataclass(frozen=True)
class EnsembleConfig:
    """Who is in the ensemble and how long things may take.

    - ``voters``: participant server ids (``server.N=...:participant``); 1 means standalone;
    - ``observers``: observer ids (``:observer``): they serve reads, never vote;
    - ``tick_ms``: ZooKeeper's tickTime (2000 ms by default);
    - ``init_limit``: ticks a learner may take to connect and sync (``initLimit``);
    - ``sync_limit``: ticks a learner may stay silent once synced (``syncLimit``);
    - ``committed_log_size``: how many committed proposals the leader keeps in memory for DIFF
      (``ZKDatabase.commitLogCount``, 500 in ZooKeeper; small values make SNAP easy to see);
    - ``snap_count``: take a snapshot and purge the older txn log every this many txns
      (``zookeeper.snapCount``; None: never);
    - ``txn_log_sync``: may the leader DIFF from its on-disk txn log beyond the committed log
      (``snapshotSizeFactor >= 0``);
    - ``force_snap``: always sync with SNAP (``zookeeper.forceSnapshotSync``, for tests);
    - ``finalize_wait_ms`` / ``max_notification_interval_ms``: election timing
      (``FastLeaderElection.finalizeWait`` / ``maxNotificationInterval``);
    - ``connect_retry_ms``: how long a learner waits before it registers with its leader
      again (``zookeeper.leaderConnectDelayDuringRetryMs``: 100 ms in 3.8; the simulated
      ensembles keep the older 1 s their recorded runs were made with).
    """

    voters: tuple[int, ...]
    observers: tuple[int, ...] = ()
    tick_ms: int = 2000
    init_limit: int = 10
    sync_limit: int = 5
    committed_log_size: int = 500
    snap_count: int | None = None
    txn_log_sync: bool = True
    force_snap: bool = False
    finalize_wait_ms: int = 200
    max_notification_interval_ms: int = 60_000
    connect_retry_ms: int = 1000

    def __post_init__(self) -> None:
        voters = tuple(sorted(self.voters))
        observers = tuple(sorted(self.observers))
        object.__setattr__(self, "voters", voters)
        object.__setattr__(self, "observers", observers)
        if not voters:
            raise UsageError("an ensemble needs at least one voter")
        if len(set(voters)) != len(voters) or len(set(observers)) != len(observers):
            raise UsageError(f"server ids must be unique: voters {voters}, observers {observers}")
        both = set(voters) & set(observers)
        if both:
            raise UsageError(f"servers {sorted(both)} cannot be both voters and observers")
        for sid in voters + observers:
            if not isinstance(sid, int) or isinstance(sid, bool) or not 0 <= sid <= 255:
                raise UsageError(f"server ids are ints in [0, 255] (ZooKeeper's myid), got {sid!r}")
        for name in ("tick_ms", "init_limit", "sync_limit", "committed_log_size", "finalize_wait_ms",
                     "connect_retry_ms",
                     "max_notification_interval_ms"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise UsageError(f"{name} must be a positive int, got {value!r}")
        if self.snap_count is not None and (not isinstance(self.snap_count, int) or self.snap_count <= 0):
            raise UsageError(f"snap_count must be a positive int or None, got {self.snap_count!r}")

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(sorted(self.voters + self.observers))

    def is_voter(self, sid: int) -> bool:
        return sid in self.voters

    @property
    def standalone(self) -> bool:
        """One voter and no observers: ZooKeeper's standalone mode (单机部署)."""
        return len(self.voters) == 1 and not self.observers


@dataclass(frozen=True)
class Impl:
    """The decision functions a server uses; each is a lab seam with a reference default."""

    vote_order: VoteOrder = field(default=vote_order)
    handle_notification: HandleNotification = field(default=handle_notification)
    choose_sync_mode: ChooseSyncMode = field(default=choose_sync_mode)
    has_quorum: HasQuorum = field(default=has_quorum)
    process_ack: ProcessAck = field(default=process_ack)
    epoch_to_propose: EpochToPropose = field(default=epoch_to_propose)
    follower_step: FollowerStepFn = field(default=follower_step)
    recover_history: RecoverHistory = field(default=recover_history)
    sync_step: SyncStepFn = field(default=sync_step)
    # The data tree a server runs: ``tree()`` is a fresh one, ``tree.restore(snapshot)`` one from
    # a snapshot (``DataTree`` itself, or ``distlab.zk.plugged.tree_factory(YourTree)``, Lab 3).
    tree: Any = field(default=DataTree)

    def __post_init__(self) -> None:
        for name in ("vote_order", "handle_notification", "choose_sync_mode", "has_quorum", "process_ack",
                     "epoch_to_propose", "follower_step", "recover_history", "sync_step", "tree"):
            if not callable(getattr(self, name)):
                raise UsageError(f"Impl.{name} must be callable, got {getattr(self, name)!r}")
