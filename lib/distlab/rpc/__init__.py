"""``distlab.rpc`` — remote procedure call (远程过程调用) with service discovery and load balancing.

The notes' five steps of an RPC, each built and each in one module:

- :mod:`~distlab.rpc.codec` — the wire format: explicit, versioned 16-byte-header frames with a
  JSON body, and a clear :class:`FrameError` for a malformed or oversized frame (网络传输);
- :mod:`~distlab.rpc.registry` — service addressing (服务寻址): providers register ephemeral
  nodes under ``/services/<name>/providers`` on ZooKeeper, consumers read and watch them;
- :mod:`~distlab.rpc.balance` — Dubbo's load balancing (负载均衡): weighted random, smooth
  weighted round robin, least active, consistent hashing;
- :mod:`~distlab.rpc.dedup` — at-most-once / at-least-once, request ids, duplicate suppression;
- :mod:`~distlab.rpc.transport` — the :class:`Provider` and :class:`Consumer` processes
  (connection, invocation, timeouts, retries, failover);
- :mod:`~distlab.rpc.proxy` — the client stub (:class:`ServiceProxy`) and result return.

Everything is sans-I/O: the processes run in the simulator (latency, loss, crashes apply)
and the decisions are pure functions — the seams of Lab 8, carried by :class:`RpcImpl`.
"""

from distlab.rpc.balance import (
    BALANCES,
    ConsistentHashLoadBalance,
    ConsistentHashRing,
    LeastActiveLoadBalance,
    RandomLoadBalance,
    RoundRobinLoadBalance,
    least_active,
    make_balance,
    smooth_round_robin,
    warmup_weight,
    weighted_random,
)
from distlab.rpc.codec import (
    MAX_BODY,
    PROTOCOL_VERSION,
    FrameBuffer,
    FrameError,
    decode_frame,
    encode_frame,
    request_frame,
    response_frame,
)
from distlab.rpc.dedup import admit
from distlab.rpc.proxy import Call, NoProvider, RemoteError, RpcTimeout, ServiceProxy, result_of, settle
from distlab.rpc.registry import (
    StaticRegistry,
    ZkRegistry,
    on_registry_event,
    parse_provider,
    provider_node,
    provider_url,
)
from distlab.rpc.transport import Consumer, Provider, ProvidersChanged, RetryPolicy, RpcImpl

__all__ = [
    # codec
    "PROTOCOL_VERSION", "MAX_BODY", "FrameError", "FrameBuffer", "encode_frame", "decode_frame",
    "request_frame", "response_frame",
    # registry
    "ZkRegistry", "StaticRegistry", "provider_url", "provider_node", "parse_provider", "on_registry_event",
    # balance
    "weighted_random", "smooth_round_robin", "least_active", "warmup_weight", "ConsistentHashRing",
    "RandomLoadBalance", "RoundRobinLoadBalance", "LeastActiveLoadBalance", "ConsistentHashLoadBalance",
    "make_balance", "BALANCES",
    # semantics
    "admit",
    # processes and the stub
    "RpcImpl", "RetryPolicy", "ProvidersChanged", "Provider", "Consumer",
    "Call", "ServiceProxy", "RemoteError", "RpcTimeout", "NoProvider", "settle", "result_of",
]
