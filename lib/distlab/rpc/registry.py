"""Service addressing (服务寻址) through a registry on ZooKeeper (服务注册与发现).

:Status: reference implementation for Lab 8, part C (``on_registry_event``)

The layout is Dubbo's with ZooKeeper as its registry (Dubbo documentation, "Zookeeper
Registry"), under ``/services`` instead of ``/dubbo``::

    /services/calc/providers/rpc%3A%2F%2Fprovider-1%2Fcalc%3Fversion%3D1%26weight%3D100   (ephemeral)
    /services/calc/providers/rpc%3A%2F%2Fprovider-2%2Fcalc%3Fversion%3D1%26weight%3D200   (ephemeral)

Each child's *name* is the provider's URL, percent-encoded so its ``/`` do not make sub-nodes
(:func:`provider_url`, :func:`parse_provider`): a consumer learns every address and weight
from one ``getChildren``, with no ``getData`` per provider.

**Provider** (registration, :class:`Registrar`)

1. Open a session; create the persistent parents ``/services/calc/providers`` if missing.
2. Create its node as **EPHEMERAL**: it lives exactly as long as the session. A provider
   that crashes stops sending heartbeats, the ensemble expires its session after the session
   timeout, and deletes the node — nobody has to deregister a dead process.
3. ``NodeExists``: a node of an earlier session of this provider is still there (that
   session has not expired yet). Delete it and create again — what Dubbo's ZooKeeper client
   does (``CuratorZookeeperClient.createEphemeral``). A new session (after expiry) goes back
   to step 1.

**Consumer** (discovery, :class:`Watcher` around the :func:`on_registry_event` seam)

1. Open a session; create the parents too (Dubbo's consumer does: a service with no
   provider yet is watched, not an error).
2. ``getChildren(providers, watch=True)``: the list, and a **one-shot** watch.
3. The watch fires (``NodeChildrenChanged``). The event says *that* the list changed, not
   how: read the list again — **with** a new watch, or the next change is never seen.
4. Each list *replaces* the provider table (a provider missing from it is gone).
5. A child that is not a provider URL this consumer understands (another protocol version,
   an operator's note) is skipped, not fatal.

Between a provider's crash and its node's deletion (up to the session timeout) the consumer
still lists it; calls sent there time out and are retried elsewhere (chapter 06's Failover).

**Caveats**

- The consumer keeps its last table while ZooKeeper is unreachable (calls go on; Dubbo even
  keeps a file cache). After its own session expires, its watch is gone: a new session
  starts again from step 2.
- A provider partitioned from ZooKeeper but not from consumers is removed while alive, and
  one partitioned from consumers but not from ZooKeeper stays listed while unreachable:
  registry membership is a hint, and the RPC layer's timeouts are the truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, quote, unquote, urlsplit

from distlab.rpc.codec import PROTOCOL_VERSION, SUPPORTED_VERSIONS
from distlab.sansio import Deliver, Disconnected, Effects, Start, Timer, UsageError
from distlab.zab.client import ApiCall, ClientState, ZooKeeperClient
from distlab.zab.clientproto import GetChildren, SessionExpiredNotice, WatchNotification
from distlab.zk.errors import Code
from distlab.zk.ops import CreateRequest, DeleteRequest
from distlab.zk.stat import CreateMode

__all__ = [
    "ZkRegistry",
    "StaticRegistry",
    "RegistryStep",
    "provider_url",
    "provider_node",
    "parse_provider",
    "on_registry_event",
    "check_registry_answer",
    "ZkSession",
    "Registrar",
    "Watcher",
    "merge_effects",
]

DEFAULT_WEIGHT = 100


# ---------------------------------------------------------------- configuration ------------
@dataclass(frozen=True)
class ZkRegistry:
    """Use a ZooKeeper ensemble as the registry: ``servers`` are its node ids."""

    servers: tuple
    root: str = "/services"
    session_timeout_ms: int = 4000

    def __post_init__(self) -> None:
        object.__setattr__(self, "servers", tuple(self.servers))
        if not self.servers:
            raise UsageError("a ZooKeeper registry needs at least one server")
        if not self.root.startswith("/") or self.root.endswith("/"):
            raise UsageError(f"root must be an absolute path without a trailing '/', got {self.root!r}")

    def providers_path(self, service: str) -> str:
        return f"{self.root}/{service}/providers"


@dataclass(frozen=True)
class StaticRegistry:
    """A fixed provider table, for runs without ZooKeeper: ``{address: weight}``.

    A consumer can still be told of changes with a :class:`~distlab.rpc.transport.ProvidersChanged`
    message (what a watch would have done).
    """

    providers: Any = field(default_factory=dict)

    def __post_init__(self) -> None:
        table = dict(self.providers)
        object.__setattr__(self, "providers", tuple(sorted(table.items())))


# ---------------------------------------------------------------- provider URLs ------------
def provider_url(address: str, service: str, weight: int = DEFAULT_WEIGHT, version: int = PROTOCOL_VERSION) -> str:
    """``rpc://provider-1/calc?version=1&weight=100`` — what a provider publishes about itself."""
    return f"rpc://{address}/{service}?version={version}&weight={weight}"


def provider_node(address: str, service: str, weight: int = DEFAULT_WEIGHT, version: int = PROTOCOL_VERSION) -> str:
    """The child name a provider registers: its URL, percent-encoded (no ``/`` left)."""
    return quote(provider_url(address, service, weight, version), safe="")


def parse_provider(name: str) -> tuple[str, int] | None:
    """``(address, weight)`` from a child name, or None if it is not a provider this side can call.

    None for: a name that is not an ``rpc://`` URL, one without an address, a weight that is
    not a non-negative int, or a protocol ``version`` this side does not speak.

    ==========================================================  ======================
    name (percent-encoded in ZooKeeper)                         result
    ==========================================================  ======================
    ``rpc://provider-1/calc?version=1&weight=100``              ``("provider-1", 100)``
    ``rpc://provider-2/calc?version=1``                         ``("provider-2", 100)``
    ``rpc://provider-3/calc?version=9&weight=100``              None (version 9)
    ``README``                                                  None
    ==========================================================  ======================
    """
    if not isinstance(name, str):
        return None
    try:
        url = urlsplit(unquote(name))
    except ValueError:
        return None
    if url.scheme != "rpc" or not url.netloc:
        return None
    query = parse_qs(url.query)
    try:
        version = int(query.get("version", [str(PROTOCOL_VERSION)])[0])
        weight = int(query.get("weight", [str(DEFAULT_WEIGHT)])[0])
    except ValueError:
        return None
    if version not in SUPPORTED_VERSIONS or weight < 0:
        return None
    return url.netloc, weight


# ---------------------------------------------------------------- the consumer's seam -------
class RegistryStep(Protocol):
    """The ``on_registry_event`` seam: ``(providers, event) -> (new_providers, requests)``."""

    def __call__(self, providers: dict, event: tuple) -> tuple[dict, list]: ...


def on_registry_event(providers: dict, event: tuple) -> tuple[dict, list]:
    """What a consumer's registry does with one event; the reference for Lab 8, part C.

    Args:
        providers: the current table ``{address: weight}`` (not changed).
        event: one of

            - ``("session",)`` — a new ZooKeeper session is connected (first start, or after
              the old session expired): there is no watch yet;
            - ``("children", [name, ...])`` — the answer to our ``getChildren``;
            - ``("watch", "NodeChildrenChanged")`` — our watch fired. It carries no list.

    Returns:
        ``(new_providers, requests)``; each request is ``("get_children", watch)``.

    ==================================  ==============================  ==========================
    event                               new providers                   requests
    ==================================  ==============================  ==========================
    ``("session",)``                    unchanged                       ``[("get_children", True)]``
    ``("children", [p1 w100, junk])``   ``{"p1": 100}`` (junk skipped)  ``[]``
    ``("watch", "NodeChildrenChanged")`` unchanged                      ``[("get_children", True)]``
    ==================================  ==============================  ==========================
    """
    kind = event[0]
    if kind == "children":
        table = {}
        for name in event[1]:
            parsed = parse_provider(name)
            if parsed is not None:
                table[parsed[0]] = parsed[1]
        return table, []
    if kind in ("session", "watch"):
        # A new session has no watch; a fired watch is spent. Either way: read and re-arm.
        return dict(providers), [("get_children", True)]
    return dict(providers), []


def check_registry_answer(answer: Any) -> tuple[dict, list]:
    """Validate what an ``on_registry_event`` returned; raise UsageError naming what is wrong."""
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise UsageError(f"on_registry_event must return (providers, requests), got {answer!r}")
    providers, requests = answer
    if not isinstance(providers, dict):
        raise UsageError(f"providers must be a dict {{address: weight}}, got {providers!r}")
    for address, weight in providers.items():
        if not isinstance(address, str) or not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise UsageError(f"providers must map address (str) to weight (int >= 0), got {address!r}: {weight!r}")
    if not isinstance(requests, (list, tuple)):
        raise UsageError(f"requests must be a list, got {requests!r}")
    out = []
    for request in requests:
        if (not isinstance(request, (tuple, list)) or len(request) != 2 or request[0] != "get_children"
                or not isinstance(request[1], bool)):
            raise UsageError(f"a request is ('get_children', watch: bool), got {request!r}")
        out.append(("get_children", request[1]))
    return dict(providers), out


# ---------------------------------------------------------------- running a ZK client inside --
def merge_effects(into: Effects, fx: Effects | None) -> None:
    """Add the effects of an embedded core to the outer process's effects, in order."""
    if fx is None:
        return
    for op, key, value in fx.writes or ():
        into._write(op, key, value)
    for dst, msg in fx.sends or ():
        into.send(dst, msg)
    for name, delay in fx.timers or ():
        if delay is None:
            into.cancel_timer(name)
        else:
            into.set_timer(name, delay)
    for text, data in fx.notes or ():
        into.note(text, **data)


class ZkSession:
    """A ZooKeeper session inside another sans-I/O process: an adapter around
    :class:`~distlab.zab.client.ZooKeeperClient`.

    A provider or consumer that is itself a simulated process cannot use the blocking
    :class:`~distlab.sim.ensemble.SimClient` (that one runs the world while it waits). Instead
    the process hosts a client core: it routes the client's messages, timers and
    disconnections to it (:meth:`handles` / :meth:`feed`), submits requests (:meth:`submit`)
    and collects answers and watch events (:meth:`take`) after every step. The client's
    effects become the host's effects (:func:`merge_effects`).

    A session that expired is replaced by a new client (:meth:`renew`). Messages still
    addressed to the old session (its expiry notice, its watches) are dropped here.
    """

    TIMER_PREFIX = "client."  # ZooKeeperClient's timers: client.connect, client.ping, client.retry

    def __init__(self, owner: Any, servers, timeout_ms: int = 4000) -> None:
        self.owner = owner
        self.servers = tuple(servers)
        self.timeout_ms = timeout_ms
        self.client: ZooKeeperClient | None = None
        self.generation = 0  # sessions started so far
        self.announced = 0  # the generation whose connection the host was told about
        self.rng = None
        self._tags: dict[int, Any] = {}
        self._next_xid = 0
        self._seen = 0

    def start(self, fx: Effects, now: int, rng) -> None:
        """Open the first session (from the host's ``Start``; uses the host's seeded RNG)."""
        self.rng = rng
        self._new_client(fx, now)

    def renew(self, fx: Effects, now: int) -> None:
        """The session expired: a new client, a new session (watches and ephemerals are gone)."""
        fx.note(f"{self.owner}: ZooKeeper session expired; opening a new one", rpc="session_expired")
        self._new_client(fx, now)

    def _new_client(self, fx: Effects, now: int) -> None:
        self.generation += 1
        old = self.client
        self.client = ZooKeeperClient(self.owner, list(self.servers), self.timeout_ms)
        if old is not None:
            # Number the new session's connection attempts after the old one's, so a late
            # answer to an old attempt (say, "session expired") cannot pass for a new one's.
            self.client.attempt = old.attempt
        self._tags, self._next_xid, self._seen = {}, 0, 0
        merge_effects(fx, self.client.step(Start(now, {}, 0, self.rng)))

    def handles(self, event: Any) -> bool:
        """Is ``event`` for the embedded client?"""
        kind = type(event)
        if kind is Timer:
            return event.name.startswith(self.TIMER_PREFIX)
        if kind is Deliver:
            return event.src in self.servers
        if kind is Disconnected:
            return event.peer in self.servers
        return False

    def feed(self, fx: Effects, event: Any) -> None:
        if self.client is None:
            return
        if type(event) is Deliver and not self._for_this_session(event.msg):
            return
        merge_effects(fx, self.client.step(event))

    def _for_this_session(self, msg: Any) -> bool:
        session = self.client.session_id
        if type(msg) is WatchNotification:
            return session is not None and msg.event.watcher == session
        if type(msg) is SessionExpiredNotice:
            return msg.session_id == session
        return True

    def submit(self, fx: Effects, now: int, op: Any, tag: Any) -> int:
        """Send ``op`` (queued by the client until it is connected); its answer comes back with ``tag``."""
        self._next_xid += 1
        xid = self._next_xid
        self._tags[xid] = tag
        merge_effects(fx, self.client.step(Deliver(now, "env", ApiCall(xid, op))))
        return xid

    def take(self) -> tuple[list, list]:
        """``([(tag, ClientReply)], [event])``: answers and events since the last call.

        Events are :class:`~distlab.zk.watches.WatchedEvent` and ``("state", ClientState)``.
        """
        client = self.client
        replies = []
        for xid in sorted(x for x in client.results if x in self._tags):
            replies.append((self._tags.pop(xid), client.results.pop(xid)))
        events = client.events[self._seen:]
        self._seen = len(client.events)
        return replies, events

    @property
    def state(self) -> ClientState | None:
        return None if self.client is None else self.client.state

    @property
    def session_id(self) -> int | None:
        return None if self.client is None else self.client.session_id

    def new_session_connected(self) -> bool:
        """True once per session, when it first connects (the host then (re)registers)."""
        if self.client is not None and self.client.state is ClientState.CONNECTED and self.announced != self.generation:
            self.announced = self.generation
            return True
        return False


def _parents(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:n]) for n in range(1, len(parts) + 1)]


_RETRY = (Code.CONNECTIONLOSS, Code.OPERATIONTIMEOUT)


class Registrar:
    """A provider's registration: persistent parents, then its ephemeral node (see module doc)."""

    def __init__(self, session: ZkSession, path: str, node: str) -> None:
        self.session = session
        self.path = path  # the providers directory
        self.node = f"{path}/{node}"
        self.registered = False

    def on_session(self, fx: Effects, now: int) -> None:
        self.registered = False
        self._ensure(fx, now, 0)

    def _ensure(self, fx: Effects, now: int, index: int) -> None:
        parents = _parents(self.path)
        if index < len(parents):
            self.session.submit(fx, now, CreateRequest(path=parents[index]), ("ensure", index))
        else:
            self.session.submit(fx, now, CreateRequest(path=self.node, mode=CreateMode.EPHEMERAL), ("create",))

    def on_reply(self, fx: Effects, now: int, tag: tuple, reply: Any) -> None:
        code = reply.code
        if code == Code.SESSIONEXPIRED:
            return  # the host renews the session and starts again
        if tag[0] == "ensure":
            if code in _RETRY:
                self._ensure(fx, now, tag[1])
            else:  # OK or NODEEXISTS: the parent is there
                self._ensure(fx, now, tag[1] + 1)
        elif tag[0] == "create":
            if code == Code.OK:
                self.registered = True
                fx.note(f"{self.session.owner} registered {self.node}", rpc="registered", node=self.node)
            elif code == Code.NODEEXISTS:
                # An earlier session's node, not yet expired: delete it, create ours.
                self.session.submit(fx, now, DeleteRequest(path=self.node), ("delete",))
            elif code == Code.NONODE:
                self._ensure(fx, now, 0)
            else:
                self._ensure(fx, now, len(_parents(self.path)))
        elif tag[0] == "delete":
            if code in _RETRY:
                self.session.submit(fx, now, DeleteRequest(path=self.node), ("delete",))
            else:
                self._ensure(fx, now, len(_parents(self.path)))


class Watcher:
    """A consumer's view of the providers, kept up to date by ``step`` (the seam) and watches."""

    def __init__(self, session: ZkSession, path: str, step: RegistryStep = on_registry_event) -> None:
        self.session = session
        self.path = path
        self.step = step
        self.providers: dict[str, int] = {}
        self.reads = 0  # getChildren requests sent

    def on_session(self, fx: Effects, now: int) -> bool:
        self._ensure(fx, now, 0)
        return False

    def _ensure(self, fx: Effects, now: int, index: int) -> None:
        parents = _parents(self.path)
        if index < len(parents):
            self.session.submit(fx, now, CreateRequest(path=parents[index]), ("ensure", index))

    def on_reply(self, fx: Effects, now: int, tag: tuple, reply: Any) -> bool:
        """Handle one answer; True if the provider table changed."""
        code = reply.code
        if code == Code.SESSIONEXPIRED:
            return False
        if tag[0] == "ensure":
            if code in _RETRY:
                self._ensure(fx, now, tag[1])
                return False
            if tag[1] + 1 < len(_parents(self.path)):
                self._ensure(fx, now, tag[1] + 1)
                return False
            return self._feed(fx, now, ("session",))
        if tag[0] == "children":
            if code == Code.OK:
                return self._feed(fx, now, ("children", list(reply.result)))
            if code == Code.NONODE:
                self._ensure(fx, now, 0)  # someone deleted the directory: create it, start over
            else:  # connection loss: the read (and its watch) may not have happened; read again
                self._read(fx, now, tag[1])
        return False

    def on_event(self, fx: Effects, now: int, event: Any) -> bool:
        if getattr(event, "path", None) == self.path:
            return self._feed(fx, now, ("watch", event.type.name))
        return False

    def _read(self, fx: Effects, now: int, watch: bool) -> None:
        self.reads += 1
        self.session.submit(fx, now, GetChildren(self.path, watch), ("children", watch))

    def _feed(self, fx: Effects, now: int, event: tuple) -> bool:
        providers, requests = check_registry_answer(self.step(dict(self.providers), event))
        changed = providers != self.providers
        self.providers = providers
        for _, watch in requests:
            self._read(fx, now, watch)
        if changed:
            fx.note(f"{self.session.owner} sees providers {sorted(providers)}", rpc="providers",
                    providers=sorted(providers))
        return changed
