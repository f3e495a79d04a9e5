"""The five steps of an RPC as two sans-I/O processes: a :class:`Provider` and a :class:`Consumer`.

:Status: reference implementation for Lab 8 (the processes the lab's seams plug into)

The notes list five steps; each is a numbered piece of these two processes:

1. **Connection (建立通信).** The consumer greets each provider it has found (``hello``:
   service, protocol versions it speaks) and sends calls only to providers that answered
   (``welcome``: the version chosen, the methods offered). It greets again until answered,
   and again after a connection breaks (``Disconnected``, a TCP reset on ``on_drop="reset"``
   links) or a provider reappears.
2. **Service addressing (服务寻址).** Providers register in a registry, consumers watch it
   (:mod:`distlab.rpc.registry`); the load balancer picks one provider per call
   (:mod:`distlab.rpc.balance`).
3. **Network transport (网络传输).** Requests and replies are frames of
   :mod:`distlab.rpc.codec`; every request carries a **request id**. A frame the provider
   cannot decode is answered with a ``FrameError`` reply, never a crash.
4. **Service invocation (服务调用).** The provider's dispatcher (the *server stub*, or
   skeleton) decodes the request, finds the method on the service object and makes the local
   call. With ``service_time_ms`` the reply leaves that much later (a slow method).
5. **Result return (结果返回).** The value, or the exception's type and message, travels
   back; the consumer settles it (:func:`~distlab.rpc.proxy.settle`) and the proxy returns or
   raises.

**Timeouts and retries** (:class:`RetryPolicy`, the semantics table in
:mod:`distlab.rpc.dedup`): each attempt has a timeout; a retry reuses the call's request id.
A method declared *idempotent* (or any method with ``failover=True``) is retried on another
provider — Dubbo's Failover mode, which excludes providers already tried; any other method
is retried only on the same provider, where duplicate suppression (``dedup=True``, the
:func:`~distlab.rpc.dedup.admit` seam) keeps it from running twice. If that provider is gone
the call ends with an unknown outcome (Dubbo's Failfast advice for writes).

**Seams.** :class:`RpcImpl` carries the five decision functions a lab may replace:
``decode_frame`` (provider), ``settle`` (consumer), ``on_registry_event`` (consumer),
``smooth_round_robin`` (consumer, with ``balance="roundrobin"``) and ``admit`` (provider).

Running one (the simulator is the driver; this package never imports it)::

    world.add_node("provider-1", lambda me: Provider(me, "calc", Calculator(), StaticRegistry()))
    world.add_node("consumer", lambda me: Consumer(me, "calc", StaticRegistry({"provider-1": 100})))
    ServiceProxy(world, "consumer").add(2, 3)      # 5
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable

from distlab.rpc.balance import RoundRobinLoadBalance, make_balance, smooth_round_robin
from distlab.rpc.codec import (
    HEADER_SIZE,
    MAX_BODY,
    SUPPORTED_VERSIONS,
    FrameError,
    decode_frame,
    encode_frame,
    error_body,
    reply_of,
    request_frame,
)
from distlab.rpc.dedup import ACTIONS, admit, remember_reply
from distlab.rpc.proxy import Call, check_settle_answer, settle
from distlab.rpc.registry import (
    Registrar,
    StaticRegistry,
    Watcher,
    ZkRegistry,
    ZkSession,
    on_registry_event,
    provider_node,
)
from distlab.sansio import Deliver, Disconnected, Effects, Start, Timer, UsageError
from distlab.zab.client import ClientState

__all__ = ["RpcImpl", "RetryPolicy", "ProvidersChanged", "Provider", "Consumer"]


@dataclass(frozen=True)
class RpcImpl:
    """The decision functions the processes use; each is a lab seam with a reference default."""

    decode_frame: Callable = field(default=decode_frame)
    settle: Callable = field(default=settle)
    on_registry_event: Callable = field(default=on_registry_event)
    smooth_round_robin: Callable = field(default=smooth_round_robin)
    admit: Callable = field(default=admit)

    def __post_init__(self) -> None:
        for name in ("decode_frame", "settle", "on_registry_event", "smooth_round_robin", "admit"):
            if not callable(getattr(self, name)):
                raise UsageError(f"RpcImpl.{name} must be callable, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How long one attempt may take, and how many attempts a call gets.

    - ``attempts=1``: **at-most-once** from the consumer's side (pair with a provider's
      ``dedup=True``: the network may duplicate too);
    - ``attempts>1``: **at-least-once**; with ``dedup=True`` on the provider and retries to the
      same provider, **effectively once**;
    - ``failover``: retry *every* method on another provider (Dubbo's Failover for all calls;
      safe only if every method is idempotent). Methods listed as idempotent on the
      consumer fail over anyway.
    """

    timeout_ms: int = 200
    attempts: int = 3
    failover: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.timeout_ms, int) or self.timeout_ms < 1:
            raise UsageError(f"timeout_ms must be an int >= 1, got {self.timeout_ms!r}")
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise UsageError(f"attempts must be an int >= 1, got {self.attempts!r}")

    @classmethod
    def at_most_once(cls, timeout_ms: int = 200) -> "RetryPolicy":
        return cls(timeout_ms=timeout_ms, attempts=1)

    @classmethod
    def at_least_once(cls, timeout_ms: int = 200, attempts: int = 5) -> "RetryPolicy":
        return cls(timeout_ms=timeout_ms, attempts=attempts)


@dataclass(frozen=True, slots=True)
class ProvidersChanged:
    """To a consumer with a static registry: the provider table is now ``providers``."""

    providers: tuple  # ((address, weight), ...)

    @classmethod
    def of(cls, table: dict) -> "ProvidersChanged":
        return cls(tuple(sorted(table.items())))


def _peek_id(data: Any) -> int:
    """The request id of a frame whose header is at least readable (0 otherwise)."""
    if isinstance(data, (bytes, bytearray)) and len(data) >= HEADER_SIZE:
        return struct.unpack_from(">Q", data, 4)[0]
    return 0


def _check_frame(frame: Any) -> dict:
    if (not isinstance(frame, dict) or frame.get("kind") not in ("request", "response", "hello", "welcome")
            or not isinstance(frame.get("id"), int) or not isinstance(frame.get("body"), dict)):
        raise ValueError(f"decode_frame must return {{'version', 'kind', 'id', 'body'}}, got {frame!r}")
    return frame


# ====================================================================== the provider ========
class Provider:
    """Serves one service object: decodes frames, suppresses duplicates, calls, replies.

    Args:
        me: this node's id (its address in the registry).
        service: the service's name, e.g. ``"calc"``.
        target: the object whose public methods are offered.
        registry: a :class:`~distlab.rpc.registry.ZkRegistry` (register an ephemeral node)
            or a :class:`~distlab.rpc.registry.StaticRegistry` (do nothing; consumers know).
        weight: published in the registry URL (Dubbo's default is 100).
        service_time_ms: how long a call takes (an int, or ``{method: ms}``): the method runs
            at once, its reply leaves this much later.
        dedup: suppress duplicate requests (the :func:`~distlab.rpc.dedup.admit` table).
    """

    EXEC_PREFIX = "rpc.exec."

    def __init__(self, me: Any, service: str, target: Any, registry: Any = None, weight: int = 100,
                 service_time_ms: int | dict = 0, dedup: bool = True, impl: RpcImpl | None = None,
                 max_body: int = MAX_BODY) -> None:
        self.me = me
        self.service = service
        self.target = target
        self.registry = registry if registry is not None else StaticRegistry()
        self.weight = weight
        self.service_time_ms = service_time_ms
        self.dedup = dedup
        self.impl = impl or RpcImpl()
        self.max_body = max_body
        self.methods = sorted(name for name in dir(target)
                              if not name.startswith("_") and callable(getattr(target, name, None)))
        self.table: dict = {}  # the duplicate-suppression table (dedup.admit's format)
        self.running: dict[str, tuple] = {}  # exec timer -> (src, client, request id, reply body)
        self.executions: list[tuple] = []  # (client, request id, method, args), in order
        self.session: ZkSession | None = None
        self.registrar: Registrar | None = None
        self.now = 0
        self._exec_count = 0

    # ------------------------------------------------------------------ dispatch ----------
    def step(self, event: Any) -> Effects:
        fx = Effects()
        self.now = event.now
        kind = type(event)
        if self.session is not None and self.session.handles(event):
            self.session.feed(fx, event)
            self._after_zk(fx)
        elif kind is Start:
            self._start(fx, event)
        elif kind is Deliver:
            if isinstance(event.msg, (bytes, bytearray)):
                self._on_frame(fx, event.src, event.msg)
        elif kind is Timer and event.name in self.running:
            src, client, request_id, body = self.running.pop(event.name)
            self._reply(fx, src, client, request_id, body)
        return fx

    def _start(self, fx: Effects, event: Start) -> None:
        fx.become("STARTING" if isinstance(self.registry, ZkRegistry) else "SERVING")
        if isinstance(self.registry, ZkRegistry):
            self.session = ZkSession(self.me, self.registry.servers, self.registry.session_timeout_ms)
            node = provider_node(str(self.me), self.service, self.weight)
            self.registrar = Registrar(self.session, self.registry.providers_path(self.service), node)
            self.session.start(fx, self.now, event.rng)
            self._after_zk(fx)

    def _after_zk(self, fx: Effects) -> None:
        session = self.session
        while True:
            if session.state is ClientState.EXPIRED:
                self.registrar.registered = False
                fx.become("STARTING")
                session.renew(fx, self.now)
            fresh = session.new_session_connected()
            if fresh:
                self.registrar.on_session(fx, self.now)
            replies, _events = session.take()
            for tag, reply in replies:
                was = self.registrar.registered
                self.registrar.on_reply(fx, self.now, tag, reply)
                if self.registrar.registered and not was:
                    fx.become("SERVING")
            if not fresh and not replies and session.state is not ClientState.EXPIRED:
                return

    # ------------------------------------------------------------------ frames -----------
    def _on_frame(self, fx: Effects, src: Any, data: bytes) -> None:
        try:
            frame = _check_frame(self.impl.decode_frame(bytes(data), self.max_body))
        except FrameError as error:
            # Step 3's promise: a bad frame gets an error reply, and the provider lives on.
            fx.note(f"{self.me}: refused a frame from {src}: {error}", rpc="frame_error", reason=error.reason)
            fx.send(src, encode_frame("response", _peek_id(data), error_body("FrameError", str(error))))
            return
        body, request_id = frame["body"], frame["id"]
        if frame["kind"] == "hello":
            versions = [v for v in body.get("versions", []) if v in SUPPORTED_VERSIONS]
            welcome = {"service": self.service, "version": max(versions) if versions else None,
                       "methods": self.methods if body.get("service") == self.service else []}
            fx.send(src, encode_frame("welcome", 0, welcome))
        elif frame["kind"] == "request":
            self._on_request(fx, src, request_id, body)
        # responses and welcomes are not for a provider: ignored

    def _on_request(self, fx: Effects, src: Any, request_id: int, body: dict) -> None:
        method, args = body.get("method"), body.get("args")
        acked, session = body.get("acked", 0), body.get("session", 0)
        if body.get("service") != self.service or not isinstance(method, str) or not isinstance(args, list) \
                or not isinstance(acked, int) or not isinstance(session, int):
            fx.send(src, encode_frame("response", request_id, error_body(
                "BadRequest", f"{self.me} serves {self.service!r}; request {body!r} is not a call of it")))
            return
        client = f"{src}#{session}"
        action = "execute"
        if self.dedup:
            answer = self.impl.admit(self.table, {"client": client, "id": request_id, "acked": acked})
            if (not isinstance(answer, (tuple, list)) or len(answer) != 2 or answer[0] not in ACTIONS
                    or not isinstance(answer[1], dict)):
                raise ValueError(f"admit must return (action, table) with action one of {ACTIONS}, got {answer!r}")
            action, self.table = answer[0], answer[1]
        if action == "execute":
            self._execute(fx, src, client, request_id, method, args)
        elif action == "replay":
            entry = self.table.get(client, {})
            reply = entry.get("replies", {}).get(request_id) if isinstance(entry, dict) else None
            if not isinstance(reply, dict):
                raise ValueError(f"admit said 'replay' for request {request_id} of {client}, "
                                 f"but the table holds no reply for it: {entry!r}")
            fx.note(f"{self.me}: duplicate {request_id} of {client}: replayed", rpc="dedup", action="replay")
            fx.send(src, encode_frame("response", request_id, reply))
        else:
            fx.note(f"{self.me}: duplicate {request_id} of {client}: {action}", rpc="dedup", action=action)

    def _execute(self, fx: Effects, src: Any, client: str, request_id: int, method: str, args: list) -> None:
        """Step 4: the local call. Runs now; the reply leaves after the service time."""
        self.executions.append((client, request_id, method, list(args)))
        fx.note(f"{self.me} runs {method}{tuple(args)!r} (request {request_id} of {client})", rpc="execute",
                client=client, request_id=request_id, method=method)
        target = getattr(self.target, method, None) if method in self.methods else None
        if target is None:
            body = error_body("NoSuchMethod", f"{self.service} has no method {method!r}")
        else:
            try:
                body = {"ok": True, "result": target(*args)}
            except Exception as error:  # noqa: BLE001 - the remote exception is the reply
                body = error_body(type(error).__name__, str(error))
        delay = self.service_time_ms.get(method, 0) if isinstance(self.service_time_ms, dict) else self.service_time_ms
        if delay:
            self._exec_count += 1
            name = f"{self.EXEC_PREFIX}{self._exec_count}"
            self.running[name] = (src, client, request_id, body)
            fx.set_timer(name, delay)
        else:
            self._reply(fx, src, client, request_id, body)

    def _reply(self, fx: Effects, src: Any, client: str, request_id: int, body: dict) -> None:
        try:
            frame = encode_frame("response", request_id, body, max_body=self.max_body)
        except FrameError as error:
            body = error_body("UnserialisableResult", str(error))
            frame = encode_frame("response", request_id, body)
        if self.dedup:
            remember_reply(self.table, client, request_id, body)
        fx.send(src, frame)


# ====================================================================== the consumer ========
class Consumer:
    """Calls one service: watches the registry, connects, balances, retries, settles replies.

    Args:
        me: this node's id.
        service: the service to call.
        registry: :class:`~distlab.rpc.registry.ZkRegistry` (watch it) or
            :class:`~distlab.rpc.registry.StaticRegistry` (a fixed table; change it with a
            :class:`ProvidersChanged` message).
        balance: a Dubbo strategy name or a LoadBalance object; ``"roundrobin"`` uses
            ``impl.smooth_round_robin``.
        policy: the :class:`RetryPolicy`.
        idempotent: methods that may be retried on another provider.
        hello_ms: how often unanswered greetings are repeated.

    Calls arrive as :class:`~distlab.rpc.proxy.Call` messages (from a
    :class:`~distlab.rpc.proxy.ServiceProxy`); outcomes land in ``results[call_id]``, and a
    record of each finished call in ``history``.
    """

    HELLO_TIMER = "rpc.hello"
    CALL_PREFIX = "rpc.call."

    def __init__(self, me: Any, service: str, registry: Any, balance: Any = "roundrobin",
                 policy: RetryPolicy | None = None, impl: RpcImpl | None = None, idempotent=(),
                 hello_ms: int = 20) -> None:
        self.me = me
        self.service = service
        self.registry = registry
        self.balance_spec = balance
        self.policy = policy or RetryPolicy()
        self.impl = impl or RpcImpl()
        self.idempotent = frozenset(idempotent)
        self.hello_ms = hello_ms
        self.providers: dict[str, int] = {}
        self.connected: dict[str, list] = {}  # address -> its methods
        self.calls: dict[Any, dict] = {}  # call id -> the call's record, while it runs
        self.by_request: dict[int, Any] = {}  # request id -> call id, while it runs
        self.results: dict[Any, tuple] = {}
        self.history: list[dict] = []
        self.picks: list[tuple] = []  # (time, call id, provider) for every attempt sent
        self.dropped: list[dict] = []  # replies settle() dropped
        self.next_request_id = 1
        self.incarnation = 0
        self.rng = None
        self.balance: Any = None
        self.session: ZkSession | None = None
        self.watcher: Watcher | None = None
        self.now = 0
        self._call_count = 0

    # ------------------------------------------------------------------ dispatch ----------
    def step(self, event: Any) -> Effects:
        fx = Effects()
        self.now = event.now
        kind = type(event)
        if self.session is not None and self.session.handles(event):
            self.session.feed(fx, event)
            self._after_zk(fx)
        elif kind is Start:
            self._start(fx, event)
        elif kind is Deliver:
            msg = event.msg
            if type(msg) is Call:
                self._on_call(fx, msg)
            elif type(msg) is ProvidersChanged:
                self._set_providers(fx, dict(msg.providers))
            elif isinstance(msg, (bytes, bytearray)):
                self._on_frame(fx, event.src, bytes(msg))
        elif kind is Timer:
            if event.name == self.HELLO_TIMER:
                self._hello(fx)
            else:
                call = next((c for c in self.calls.values() if c["timer"] == event.name), None)
                if call is not None:
                    self._on_timeout(fx, call)
        elif kind is Disconnected:
            if event.peer in self.connected:
                self._lose(fx, event.peer, "the connection broke")
            if event.peer in self.providers:
                fx.set_timer(self.HELLO_TIMER, self.hello_ms)  # greet again later, not in a loop
        self._show_state(fx)
        return fx

    def _start(self, fx: Effects, event: Start) -> None:
        self.incarnation = event.incarnation
        self.rng = event.rng
        if self.balance_spec == "roundrobin":
            self.balance = RoundRobinLoadBalance(self.impl.smooth_round_robin)
        else:
            self.balance = make_balance(self.balance_spec)
        if isinstance(self.registry, ZkRegistry):
            self.session = ZkSession(self.me, self.registry.servers, self.registry.session_timeout_ms)
            self.watcher = Watcher(self.session, self.registry.providers_path(self.service), self.impl.on_registry_event)
            self.session.start(fx, self.now, event.rng)
            self._after_zk(fx)
        elif isinstance(self.registry, StaticRegistry):
            self._set_providers(fx, dict(self.registry.providers))
        else:
            raise UsageError(f"registry must be a ZkRegistry or a StaticRegistry, got {self.registry!r}")

    def _show_state(self, fx: Effects) -> None:
        fx.become("READY" if self.connected else "NO_PROVIDER")

    def _after_zk(self, fx: Effects) -> None:
        session, watcher = self.session, self.watcher
        while True:
            if session.state is ClientState.EXPIRED:
                session.renew(fx, self.now)
            fresh = session.new_session_connected()
            changed = watcher.on_session(fx, self.now) if fresh else False
            replies, events = session.take()
            for tag, reply in replies:
                changed = watcher.on_reply(fx, self.now, tag, reply) or changed
            for event in events:
                if not isinstance(event, tuple):
                    changed = watcher.on_event(fx, self.now, event) or changed
            if changed:
                self._set_providers(fx, dict(watcher.providers))
            if not fresh and not replies and not events and session.state is not ClientState.EXPIRED:
                return

    # ------------------------------------------------------------------ providers ----------
    def _set_providers(self, fx: Effects, table: dict) -> None:
        old = self.providers
        self.providers = dict(table)
        for address in sorted(set(old) - set(table)):
            if address in self.connected:
                self._lose(fx, address, "it left the registry")
        self._hello(fx)
        self._dispatch_waiting(fx)

    def _hello(self, fx: Effects) -> None:
        """Step 1: greet every known provider that has not answered yet."""
        missing = [a for a in sorted(self.providers) if a not in self.connected]
        for address in missing:
            fx.send(address, encode_frame("hello", 0, {"service": self.service, "versions": list(SUPPORTED_VERSIONS)}))
        if missing:
            fx.set_timer(self.HELLO_TIMER, self.hello_ms)
        else:
            fx.cancel_timer(self.HELLO_TIMER)

    def _lose(self, fx: Effects, address: str, why: str) -> None:
        """A provider's connection is gone: calls in flight there may fail over at once."""
        self.connected.pop(address, None)
        fx.note(f"{self.me}: lost {address}: {why}", rpc="lost", provider=address)
        for call in [c for c in self.calls.values() if c["provider"] == address]:
            if self._fails_over(call) and call["attempts"] < self.policy.attempts:
                self.balance.finished(address)
                call["provider"] = None
                self._attempt(fx, call)
            # Otherwise its timer decides: retry here if it comes back, else an unknown outcome.

    # ------------------------------------------------------------------ calls ------------
    def _on_call(self, fx: Effects, call: Call) -> None:
        if call.call_id in self.calls or call.call_id in self.results:
            raise UsageError(f"call id {call.call_id!r} was used already on {self.me}")
        self._call_count += 1
        request_id = self.next_request_id
        self.next_request_id += 1
        record = {"call": call.call_id, "request_id": request_id, "method": call.method, "args": list(call.args),
                  "attempts": 0, "provider": None, "tried": [], "started": self.now,
                  "timer": f"{self.CALL_PREFIX}{self._call_count}"}
        self.calls[call.call_id] = record
        self.by_request[request_id] = call.call_id
        self._attempt(fx, record)

    def _fails_over(self, call: dict) -> bool:
        return self.policy.failover or call["method"] in self.idempotent

    def _acked(self) -> int:
        """The lowest request id still waiting: every reply below it has arrived."""
        return min(self.by_request, default=self.next_request_id)

    def _attempt(self, fx: Effects, call: dict) -> None:
        """Pick a provider (step 2) and send the request (step 3), or wait for one."""
        candidates = {a: w for a, w in self.providers.items() if a in self.connected}
        untried = {a: w for a, w in candidates.items() if a not in call["tried"]}
        if untried and call["tried"]:
            candidates = untried  # Dubbo's Failover excludes the providers already tried
        if not candidates:
            call["provider"] = None
            fx.set_timer(call["timer"], self.policy.timeout_ms)
            return
        provider = self.balance.select(candidates, {"method": call["method"], "args": call["args"]}, self.rng)
        if provider not in candidates:
            raise ValueError(f"the load balancer chose {provider!r}, not one of {sorted(candidates)}")
        self._send(fx, call, provider)

    def _send(self, fx: Effects, call: dict, provider: str) -> None:
        self.balance.started(provider)
        call["provider"] = provider
        call["attempts"] += 1
        call["tried"].append(provider)
        self.picks.append((self.now, call["call"], provider))
        fx.send(provider, request_frame(call["request_id"], self.service, call["method"], call["args"],
                                        acked=self._acked(), session=self.incarnation))
        fx.set_timer(call["timer"], self.policy.timeout_ms)

    def _dispatch_waiting(self, fx: Effects) -> None:
        if not self.connected:
            return
        for call in [c for c in self.calls.values() if c["provider"] is None and c["attempts"] == 0]:
            self._attempt(fx, call)

    def _on_timeout(self, fx: Effects, call: dict) -> None:
        provider = call["provider"]
        if provider is not None:
            self.balance.finished(provider)  # this attempt is over
        if provider is None:  # waiting for a provider: never sent, or none left to fail over to
            waited = self.now - call["started"]
            if waited < self.policy.timeout_ms * self.policy.attempts:
                self._attempt(fx, call)
            elif call["attempts"] == 0:
                self._finish(fx, call, ("no_provider", f"no provider of {self.service!r} reachable within "
                                                       f"{waited} ms (known: {sorted(self.providers)})"))
            else:
                self._finish(fx, call, ("timeout", f"{call['method']}{tuple(call['args'])!r}: no reply from "
                                                   f"{call['tried']} and no other provider left; "
                                                   "the call may or may not have run"))
            return
        if call["attempts"] >= self.policy.attempts:
            self._finish(fx, call, ("timeout", f"{call['method']}{tuple(call['args'])!r}: no reply after "
                                               f"{call['attempts']} attempt(s) to {call['tried']}; "
                                               "the call may or may not have run"))
        elif self._fails_over(call):
            self._attempt(fx, call)
        elif provider in self.connected:
            self._send(fx, call, provider)  # same request id, same provider: dedup makes it safe
        else:
            self._finish(fx, call, ("timeout", f"{call['method']}{tuple(call['args'])!r}: {provider} is gone and "
                                               "the method is not idempotent, so it is not retried elsewhere; "
                                               "the call may or may not have run"))

    def _finish(self, fx: Effects, call: dict, outcome: tuple, served_by: Any = None) -> None:
        fx.cancel_timer(call["timer"])
        del self.calls[call["call"]]
        self.by_request.pop(call["request_id"], None)
        self.results[call["call"]] = outcome
        self.history.append({"call": call["call"], "method": call["method"], "args": call["args"],
                             "request_id": call["request_id"], "attempts": call["attempts"],
                             "tried": list(call["tried"]), "served_by": served_by, "outcome": outcome,
                             "started": call["started"], "ended": self.now})
        fx.note(f"{self.me}: call {call['call']} {call['method']}{tuple(call['args'])!r} -> {outcome[0]}"
                + (f" from {served_by}" if served_by is not None else ""), rpc="outcome", call=call["call"])

    # ------------------------------------------------------------------ replies ----------
    def _on_frame(self, fx: Effects, src: Any, data: bytes) -> None:
        try:
            frame = decode_frame(data)
        except FrameError as error:
            fx.note(f"{self.me}: unreadable frame from {src}: {error}", rpc="frame_error")
            return
        body = frame["body"]
        if frame["kind"] == "welcome":
            if body.get("service") == self.service and body.get("version") in SUPPORTED_VERSIONS \
                    and src in self.providers:
                self.connected[src] = list(body.get("methods", []))
                self._dispatch_waiting(fx)
            return
        if frame["kind"] != "response":
            return
        reply = reply_of(frame)
        pending = {rid: self.calls[cid]["method"] for rid, cid in self.by_request.items()
                   if self.calls[cid]["attempts"] > 0}
        answer = check_settle_answer(self.impl.settle(pending, reply), pending)
        if answer is None:
            self.dropped.append({"from": src, "reply": reply, "at": self.now})
            fx.note(f"{self.me}: dropped a reply to request {reply.get('id')} from {src} (not pending)",
                    rpc="dropped")
            return
        call = self.calls[self.by_request[answer[0]]]
        if call["provider"] is not None:
            self.balance.finished(call["provider"])
        if answer[1] == "return":
            outcome = ("return", answer[2])
        else:
            outcome = ("raise", answer[2], answer[3])
        self._finish(fx, call, outcome, served_by=src)
