"""A simulated ZooKeeper ensemble and a kazoo-shaped client for it.

This is a driver: it builds a :class:`~distlab.sim.World` of
:class:`~distlab.zab.peer.QuorumPeer` servers (the notes' 伪集群, many servers on one
machine — here, in one process) and gives tests, labs and lock recipes a blocking client whose
methods copy kazoo's names: each call injects the request into the client process and runs
the simulation until the answer arrives. Nothing here changes protocol behaviour.

    ensemble = Ensemble(servers=3, seed=7)
    leader = ensemble.wait_for_leader()
    zk = ensemble.client()
    zk.create("/app", b"hello")
    ensemble.crash(leader)
    zk.get("/app")          # fails over to another server once a new leader serves
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from distlab.sansio import UsageError
from distlab.sim.network import LinkConfig, Network
from distlab.sim.world import World
from distlab.zab.client import ApiCall, ClientState, ZooKeeperClient
from distlab.zab.clientproto import ClientReply, CloseSession, Exists, GetChildren, GetData, SyncRequest
from distlab.zab.config import EnsembleConfig, Impl
from distlab.zab.messages import ServerState
from distlab.zab.events import FinalState
from distlab.zab.peer import QuorumPeer, history_of
from distlab.zk.errors import OperationTimeoutError, error_for_code
from distlab.zk.ops import (
    CreateRequest,
    DeleteRequest,
    MultiRequest,
    SetDataRequest,
)
from distlab.zk.stat import CreateMode

__all__ = ["Ensemble", "SimClient", "disk_with_history"]


class Ensemble:
    """``servers`` voters (ids 1..n) plus ``observers`` (ids n+1..), in one simulated world.

    Keyword arguments not listed go to :class:`~distlab.zab.config.EnsembleConfig`
    (``tick_ms``, ``committed_log_size``, ``snap_count``, ...). ``durable`` pre-loads servers'
    disks (``{sid: {"log": [...], "current_epoch": 2, ...}}``), e.g. from :func:`disk_with_history`.
    """

    def __init__(self, servers: int = 3, observers: int = 0, *, seed: int = 0,
                 network: LinkConfig | Network | None = None, impl: Impl | None = None,
                 record: bool = True, durable: dict[int, dict[str, Any]] | None = None,
                 **config: Any) -> None:
        if not isinstance(servers, int) or servers < 1:
            raise UsageError(f"servers must be a positive int, got {servers!r}")
        voters = tuple(range(1, servers + 1))
        observer_ids = tuple(range(servers + 1, servers + observers + 1))
        self.config = EnsembleConfig(voters=voters, observers=observer_ids, **config)
        self.impl = impl or Impl()
        if network is None:
            # ZooKeeper talks over TCP: a lost packet is a broken connection, never a silent gap.
            network = LinkConfig(on_drop="reset")
        self.world = World(seed=seed, network=network, record=record)
        durable = durable or {}
        unknown = set(durable) - set(self.config.members)
        if unknown:
            raise UsageError(f"durable state given for servers {sorted(unknown)} not in the ensemble")
        for sid in self.config.members:
            self.world.add_node(sid, self._make_peer, durable=durable.get(sid))
        self._clients = 0

    def _make_peer(self, sid: int) -> QuorumPeer:
        return QuorumPeer(sid, self.config, self.impl)

    # ------------------------------------------------------------------ looking at it -----
    @property
    def servers(self) -> tuple[int, ...]:
        return self.config.members

    def peer(self, sid: int) -> QuorumPeer:
        return self.world.process(sid)

    def is_up(self, sid: int) -> bool:
        return self.world.is_up(sid)

    def states(self) -> dict[int, str | None]:
        """``{sid: "LEADING" | "FOLLOWING" | ... | None (down)}``."""
        return {sid: self.world.state_of(sid) for sid in self.servers}

    def leader(self) -> int | None:
        """The leader that is serving now: LEADING, established, and up. None if there is none."""
        serving = [sid for sid in self.servers
                   if self.world.is_up(sid) and self.peer(sid).state is ServerState.LEADING and self.peer(sid).serving]
        if len(serving) > 1:
            # Possible for a moment after a partition (an old leader has not noticed yet).
            return max(serving, key=lambda sid: self.peer(sid).current_epoch)
        return serving[0] if serving else None

    def serving(self) -> list[int]:
        """Servers that answer clients now."""
        return [sid for sid in self.servers if self.world.is_up(sid) and self.peer(sid).serving]

    def wait_for(self, predicate: Callable[["Ensemble"], bool], max_ms: int = 60_000, what: str = "condition") -> None:
        """Run until ``predicate(ensemble)`` holds; raise TimeoutError naming ``what`` if not."""
        if not self.world.run_until(lambda w: predicate(self), self.world.now + max_ms):
            raise TimeoutError(f"{what} did not happen within {max_ms} ms (t={self.world.now} ms); "
                               f"states {self.states()}")

    def settled(self) -> bool:
        """A leader serves, and every other server that is up is its up-to-date learner.

        "Serving" alone is not enough: a follower cut off from a crashed leader keeps serving
        (stale) reads until ``syncLimit`` runs out, as in ZooKeeper.
        """
        leader = self.leader()
        if leader is None:
            return False
        handlers = self.peer(leader).role.learners
        for sid in self.servers:
            if sid == leader or not self.world.is_up(sid):
                continue
            peer = self.peer(sid)
            handler = handlers.get(sid)
            if not peer.serving or getattr(peer.role, "leader", None) != leader or handler is None or handler.phase != "uptodate" \
                    or handler.registration != peer.role.started_at:
                return False
        return True

    def wait_for_leader(self, max_ms: int = 60_000) -> int:
        """Run until :meth:`settled` (a leader and all its up learners in sync); return the leader."""
        self.wait_for(Ensemble.settled, max_ms, "a settled ensemble with a leader")
        return self.leader()

    def quiesce(self, max_ms: int = 120_000) -> int:
        """Settle, then make every up server apply everything the leader has; return the leader.

        A follower that missed a COMMIT on a lossy link only notices at the next one, so a
        final "barrier" write goes through a fresh client; then the run waits until every up
        server has processed the leader's last zxid. Use before comparing final states.
        """
        self.wait_for_leader(max_ms)
        barrier = self.client(name=f"barrier-{self._clients + 1}")
        barrier.close()  # closing a session is a write: it reaches every server as a COMMIT

        def caught_up(e: Ensemble) -> bool:
            leader = e.leader()
            if leader is None or not e.settled():
                return False
            target = e.peer(leader).tree.last_processed_zxid
            return all(e.peer(sid).tree.last_processed_zxid == target
                       for sid in e.servers if e.world.is_up(sid))

        self.wait_for(caught_up, max_ms, "every server catching up with the leader")
        return self.leader()

    def record_final_state(self) -> None:
        """Note each up server's logged history and tree digest, for ``check_durability``."""
        for sid in self.servers:
            if self.world.is_up(sid):
                final = FinalState(**history_of(self.peer(sid)))
                self.world.note(str(final), event=final)

    # ------------------------------------------------------------------ faults -------------
    def crash(self, sid: int) -> None:
        self.world.crash(sid)

    def restart(self, sid: int) -> None:
        self.world.restart(sid)

    def partition(self, *groups: Iterable[int]) -> None:
        self.world.partition(*groups)

    def heal(self) -> None:
        self.world.heal()

    def run(self, ms: int) -> None:
        self.world.run_for(ms)

    # ------------------------------------------------------------------ clients ------------
    def client(self, servers: Iterable[int] | None = None, timeout_ms: int | None = None,
               name: str | None = None, connect: bool = True) -> "SimClient":
        """A kazoo-shaped client on its own simulated node; connects before returning."""
        self._clients += 1
        name = name or f"client-{self._clients}"
        servers = list(servers) if servers is not None else list(self.servers)
        timeout_ms = timeout_ms or 2 * self.config.tick_ms
        self.world.add_node(name, lambda node: ZooKeeperClient(node, servers, timeout_ms))
        client = SimClient(self, name)
        if connect:
            client.wait_connected()
        return client


def disk_with_history(last_zxid: int, accepted_epoch: int | None = None) -> dict[str, Any]:
    """A server disk whose history ends at ``last_zxid``: one snapshot txn, epoch files set.

    For experiments that need servers to start with different histories (who wins an
    election?) without replaying a workload first.
    """
    from distlab.zab.zxid import epoch_of
    from distlab.zk.ops import CreateTxn
    from distlab.zk.tree import DataTree

    tree = DataTree()
    if last_zxid > 0:
        tree.apply(CreateTxn(zxid=last_zxid, time=0, session_id=0, path=f"/history-{last_zxid:x}",
                             data=b"", ephemeral=False, parent_cversion=tree.stat_persisted("/").cversion + 1))
    epoch = epoch_of(last_zxid)
    return {"snapshot": (last_zxid, tree.snapshot()) if last_zxid > 0 else None, "log": [],
            "current_epoch": epoch, "accepted_epoch": max(epoch, accepted_epoch or 0)}


class SimClient:
    """A blocking client with kazoo's method names, driving the simulation as it waits."""

    def __init__(self, ensemble: Ensemble, name: str, call_timeout_ms: int = 30_000) -> None:
        self.ensemble = ensemble
        self.world = ensemble.world
        self.name = name
        self.call_timeout_ms = call_timeout_ms
        self._next_xid = 0

    @property
    def process(self) -> ZooKeeperClient:
        return self.world.process(self.name)

    @property
    def state(self) -> ClientState:
        return self.process.state

    @property
    def session_id(self) -> int | None:
        return self.process.session_id

    @property
    def server(self) -> int | None:
        """The server this client is attached to."""
        return self.process.server

    @property
    def events(self) -> list:
        """Watch events and state changes, in the order they reached the client."""
        return self.process.events

    def wait_connected(self, max_ms: int = 60_000) -> None:
        ok = self.world.run_until(
            lambda w: w.is_up(self.name) and self.process.state in (ClientState.CONNECTED, ClientState.EXPIRED),
            self.world.now + max_ms)
        if not ok or self.process.state is not ClientState.CONNECTED:
            raise OperationTimeoutError(None, f"client {self.name} did not connect within {max_ms} ms "
                                              f"(states {self.ensemble.states()})")

    def send_async(self, op: Any, at: int | None = None) -> int:
        """Hand ``op`` to the client process without waiting for the reply; return its xid
        (the reply lands in ``process.results[xid]``). ``at``: a later virtual time to hand it
        over (the xid is taken now). Every request of this client takes its xid here."""
        self._next_xid += 1
        xid = self._next_xid
        self.world.inject(self.name, ApiCall(xid, op), at=at)
        return xid

    def call(self, op: Any) -> ClientReply:
        """Send one request and run the simulation until its reply; return the reply."""
        xid = self.send_async(op)
        results = self.process.results
        ok = self.world.run_until(lambda w: xid in results, self.world.now + self.call_timeout_ms)
        if not ok:
            raise OperationTimeoutError(None, f"no reply to {op!r} within {self.call_timeout_ms} ms")
        return results.pop(xid)

    def _result(self, op: Any) -> Any:
        reply = self.call(op)
        if not reply.ok:
            path = getattr(op, "path", None)
            results = reply.result.results if reply.result is not None and hasattr(reply.result, "results") else None
            raise error_for_code(reply.code)(path, reply.error, results=results)
        return reply.result

    # kazoo's API ------------------------------------------------------------------------
    def create(self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False,
               makepath: bool = False) -> str:
        """Create a node; returns its final path (with the sequence suffix)."""
        if makepath:
            self.ensure_path(path.rsplit("/", 1)[0] or "/")
        return self._result(CreateRequest(path=path, data=value, mode=_mode(ephemeral, sequence))).path

    def ensure_path(self, path: str) -> None:
        """Create ``path`` and its missing parents (kazoo's ``ensure_path``)."""
        from distlab.zk.errors import NodeExistsError

        current = ""
        for part in [p for p in path.split("/") if p]:
            current += "/" + part
            if self.exists(current) is None:
                try:
                    self.create(current)
                except NodeExistsError:
                    pass

    def get(self, path: str, watch: bool = False):
        return self._result(GetData(path, watch))

    def exists(self, path: str, watch: bool = False):
        return self._result(Exists(path, watch))

    def get_children(self, path: str, watch: bool = False) -> list[str]:
        return self._result(GetChildren(path, watch))

    def set(self, path: str, value: bytes, version: int = -1):
        return self._result(SetDataRequest(path=path, data=value, version=version)).stat

    def delete(self, path: str, version: int = -1) -> None:
        self._result(DeleteRequest(path=path, version=version))

    def sync(self, path: str = "/") -> None:
        """Make the next read on this server see everything committed before now."""
        self._result(SyncRequest(path))

    def multi(self, *ops: Any):
        """All-or-nothing: ops are ``CreateRequest``/``DeleteRequest``/``SetDataRequest``/``CheckVersionRequest``."""
        return self._result(MultiRequest(ops=tuple(ops)))

    def close(self) -> None:
        """End the session now: its ephemeral nodes are deleted at once."""
        self._result(CloseSession())


def _mode(ephemeral: bool, sequence: bool) -> CreateMode:
    if ephemeral:
        return CreateMode.EPHEMERAL_SEQUENTIAL if sequence else CreateMode.EPHEMERAL
    return CreateMode.PERSISTENT_SEQUENTIAL if sequence else CreateMode.PERSISTENT

