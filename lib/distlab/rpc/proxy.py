"""Service invocation through a client proxy (代理 / stub), and result return (结果返回).

:Status: reference implementation for Lab 8, part B (``settle``)

What the caller sees is a local call::

    calc = ServiceProxy(world, "consumer")
    calc.add(2, 3)            # 5
    calc.div(1, 0)            # raises RemoteError("ZeroDivisionError", "division by zero")

Underneath (Birrell and Nelson's *client stub*; Dubbo generates the same from a Java
interface, gRPC from a ``.proto`` file):

1. the proxy turns ``add(2, 3)`` into a :class:`Call` and hands it to the consumer process
   (:class:`~distlab.rpc.transport.Consumer`), which numbers it with a **request id**, picks
   a provider (registry + load balancer) and sends a request frame;
2. the proxy waits — here by running the simulated world until the call has an outcome,
   where a real stub blocks a thread on a future (Dubbo's ``DefaultFuture``);
3. each reply that arrives is **settled** by :func:`settle`: matched to the call still
   waiting under its request id, then turned into a return value or a remote exception;
4. the proxy returns the value, or raises :class:`RemoteError` (the method raised on the
   provider), :class:`RpcTimeout` (no answer in time: **the outcome is unknown** — the call
   may have run) or :class:`NoProvider` (nobody offers the service).

Matching by request id is what lets many calls share one connection, and what keeps a
*late* reply — to an attempt that timed out, or a duplicate — from being taken as the answer
to a newer call. Dubbo's ``DefaultFuture.received`` does exactly this lookup, and logs and
drops a response whose future has already timed out.

**Caveats**

- The proxy is a driver: it needs the world (``inject``, ``run_until``, ``process``) and is
  duck-typed so this package imports nothing from the simulator.
- A remote exception crosses the wire as a type *name* and a message; the caller gets a
  :class:`RemoteError`, never the provider's exception object (Java RPC frameworks try to
  re-create the class; that only works when both sides share it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol

__all__ = [
    "Call",
    "RemoteError",
    "RpcTimeout",
    "NoProvider",
    "Settle",
    "settle",
    "check_settle_answer",
    "result_of",
    "ServiceProxy",
]


@dataclass(frozen=True, slots=True)
class Call:
    """From the program to a consumer process: call ``method(*args)``; ``call_id`` names the call."""

    call_id: Any
    method: str
    args: tuple = ()


class RemoteError(Exception):
    """The remote method raised: ``type`` is its exception's class name, ``message`` its text."""

    def __init__(self, type: str, message: str = "") -> None:  # noqa: A002 - the wire's word
        self.type, self.message = type, message
        super().__init__(f"{type}: {message}" if message else type)


class RpcTimeout(TimeoutError):
    """No reply in time, after every attempt the retry policy allows. The call may have run."""


class NoProvider(LookupError):
    """No provider of the service could be reached (none registered, none connected)."""


class Settle(Protocol):
    """The ``settle`` seam: ``(pending, reply) -> None | (id, "return", value) | (id, "raise", type, message)``."""

    def __call__(self, pending: dict, reply: dict) -> tuple | None: ...


def settle(pending: dict, reply: dict) -> tuple | None:
    """Match one reply to the call waiting for it; the reference for Lab 8, part B.

    Args:
        pending: ``{request_id: method}`` for every call still waiting for its answer.
        reply: ``{"id": 7, "ok": True, "result": 5}`` or
            ``{"id": 7, "ok": False, "error": {"type": "ZeroDivisionError", "message": "..."}}``.

    Returns:
        ``None`` to drop the reply (its id is not pending: a late reply to a call that has
        already ended, a duplicate, or not ours); else ``(id, "return", result)`` or
        ``(id, "raise", type, message)``.

    =====================================================  ===================================
    pending / reply                                        settled
    =====================================================  ===================================
    ``{7: "add"}`` / ``{"id": 7, "ok": True, "result": 5}``  ``(7, "return", 5)``
    ``{7: "div"}`` / id 7, error ZeroDivisionError         ``(7, "raise", "ZeroDivisionError", ...)``
    ``{8: "add"}`` / ``{"id": 7, ...}`` (7 timed out)       ``None``
    ``{7: "get"}`` / ``{"id": 7, "ok": True, "result": None}``  ``(7, "return", None)``
    =====================================================  ===================================
    """
    request_id = reply.get("id")
    if request_id not in pending:
        return None
    if reply.get("ok") is True:
        return (request_id, "return", reply.get("result"))
    error = reply.get("error") or {}
    return (request_id, "raise", str(error.get("type", "RemoteError")), str(error.get("message", "")))


def check_settle_answer(answer: Any, pending: dict) -> tuple | None:
    """Validate what a ``settle`` returned; raise ValueError naming what is wrong."""
    if answer is None:
        return None
    if not isinstance(answer, (tuple, list)) or len(answer) < 3:
        raise ValueError(f"settle must return None or a tuple (id, 'return', value) / (id, 'raise', type, message), "
                         f"got {answer!r}")
    answer = tuple(answer)
    if answer[0] not in pending:
        raise ValueError(f"settle returned request id {answer[0]!r}, which is not pending ({sorted(pending)})")
    if answer[1] == "return" and len(answer) == 3:
        return answer
    if answer[1] == "raise" and len(answer) == 4 and isinstance(answer[2], str) and isinstance(answer[3], str):
        return answer
    raise ValueError(f"settle must return (id, 'return', value) or (id, 'raise', type, message), got {answer!r}")


def result_of(outcome: tuple) -> Any:
    """The caller's view of a call's outcome: return the value, or raise what it means."""
    kind = outcome[0]
    if kind == "return":
        return outcome[1]
    if kind == "raise":
        raise RemoteError(outcome[1], outcome[2])
    if kind == "timeout":
        raise RpcTimeout(outcome[1])
    if kind == "no_provider":
        raise NoProvider(outcome[1])
    raise ValueError(f"unknown outcome {outcome!r}")


class ServiceProxy:
    """The caller's stub: ``proxy.method(*args)`` performs a remote call and returns its result.

    Args:
        world: the simulated world the consumer runs in (anything with ``inject``,
            ``run_until``, ``process``, ``is_up`` and ``now``).
        consumer: the node id of a :class:`~distlab.rpc.transport.Consumer`.
        max_wait_ms: how long (virtual time) a call may take before the proxy gives up;
            the consumer's own retry policy normally ends it much earlier.
        name: prefix of this proxy's call ids (two proxies on one consumer need two names).

    ``submit`` / ``outcome`` / ``wait`` make calls without waiting, for load tests.
    """

    def __init__(self, world: Any, consumer: Any, max_wait_ms: int = 60_000, name: str = "call") -> None:
        self._world = world
        self._consumer = consumer
        self._max_wait = max_wait_ms
        self._name = name
        self._count = 0

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def remote(*args: Any) -> Any:
            return self.call(method, *args)

        remote.__name__ = method
        return remote

    def call(self, method: str, *args: Any) -> Any:
        """Call ``method(*args)`` remotely and wait (run the world) for its outcome."""
        call_id = self.submit(method, *args)
        if not self.wait([call_id], self._max_wait):
            raise RpcTimeout(f"{method}{args!r}: no outcome within {self._max_wait} ms "
                             f"(is the consumer {self._consumer!r} up?)")
        return result_of(self.outcome(call_id))

    def submit(self, method: str, *args: Any) -> str:
        """Start a call without waiting; returns its call id."""
        self._count += 1
        call_id = f"{self._name}-{self._count}"
        self._world.inject(self._consumer, Call(call_id, method, tuple(args)))
        return call_id

    def outcome(self, call_id: str) -> tuple | None:
        """The call's outcome tuple, if it has one yet (``("return", v)``, ``("raise", t, m)``, ...)."""
        if not self._world.is_up(self._consumer):
            return None
        return self._world.process(self._consumer).results.get(call_id)

    def wait(self, call_ids: Iterable[str], max_ms: int | None = None) -> bool:
        """Run the world until every call in ``call_ids`` has an outcome; False if time ran out."""
        ids = list(call_ids)
        world = self._world

        def done(w: Any) -> bool:
            if not w.is_up(self._consumer):
                return False
            results = w.process(self._consumer).results
            return all(i in results for i in ids)

        return world.run_until(done, world.now + (self._max_wait if max_ms is None else max_ms))
