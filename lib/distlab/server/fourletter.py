"""The four-letter words (``server/command/*Command.java``): monitoring answers as text.

Pure: ``answer(word, facts)`` formats what ZooKeeper 3.8 prints for ``ruok``, ``srvr``,
``stat``, ``mntr``, ``envi``, ``conf``, ``isro`` and ``cons``; a word ZooKeeper knows but
distlab does not answer gets 3.8's whitelist refusal. kazoo's ``server_version()`` parses
``zookeeper.version=`` out of ``envi``; tools such as ``zkServer.sh status`` read ``Mode:``
out of ``srvr``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ServerFacts", "answer", "ANSWERED", "ZOOKEEPER_VERSION"]

# What distlab reports itself as: the protocol it speaks is 3.8's.
ZOOKEEPER_VERSION = "3.8.0-distlab"

ANSWERED = frozenset({"ruok", "srvr", "stat", "mntr", "envi", "conf", "isro", "cons"})


@dataclass(frozen=True)
class ServerFacts:
    """A snapshot of the counters the commands print."""

    mode: str  # "standalone", "leader", "follower"
    zxid: int
    node_count: int
    watch_count: int
    ephemerals_count: int
    received: int
    sent: int
    outstanding: int
    client_port: int
    tick_time: int
    min_session_timeout: int
    max_session_timeout: int
    data_dir: str
    server_id: int = 0
    # (remote "ip:port", received, sent) of every open connection
    connections: list[tuple[str, int, int]] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # envi's lines (host.name ...), from the driver


def _srvr(f: ServerFacts, clients: bool) -> str:
    lines = [f"Zookeeper version: {ZOOKEEPER_VERSION}, built on distlab"]
    if clients:
        lines.append("Clients:")
        lines += [f" /{addr}[1](queued=0,recved={r},sent={s})" for addr, r, s in f.connections]
        lines.append("")
    lines += [
        "Latency min/avg/max: 0/0.0/0",
        f"Received: {f.received}",
        f"Sent: {f.sent}",
        f"Connections: {len(f.connections)}",
        f"Outstanding: {f.outstanding}",
        f"Zxid: 0x{f.zxid:x}",
        f"Mode: {f.mode}",
        f"Node count: {f.node_count}",
    ]
    return "\n".join(lines) + "\n"


def _mntr(f: ServerFacts) -> str:
    rows = [
        ("zk_version", f"{ZOOKEEPER_VERSION}, built on distlab"),
        ("zk_server_state", f.mode),
        ("zk_avg_latency", "0.0"),
        ("zk_max_latency", "0"),
        ("zk_min_latency", "0"),
        ("zk_packets_received", f.received),
        ("zk_packets_sent", f.sent),
        ("zk_num_alive_connections", len(f.connections)),
        ("zk_outstanding_requests", f.outstanding),
        ("zk_znode_count", f.node_count),
        ("zk_watch_count", f.watch_count),
        ("zk_ephemerals_count", f.ephemerals_count),
        ("zk_approximate_data_size", 0),
        ("zk_last_zxid", f"0x{f.zxid:x}"),
    ]
    return "".join(f"{k}\t{v}\n" for k, v in rows)


def _envi(f: ServerFacts) -> str:
    env = {"zookeeper.version": f"{ZOOKEEPER_VERSION}, built on distlab", **f.extra_env}
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in env.items())


def _conf(f: ServerFacts) -> str:
    rows = {
        "clientPort": f.client_port,
        "dataDir": f.data_dir,
        "tickTime": f.tick_time,
        "maxClientCnxns": 0,
        "minSessionTimeout": f.min_session_timeout,
        "maxSessionTimeout": f.max_session_timeout,
        "serverId": f.server_id,
    }
    return "".join(f"{k}={v}\n" for k, v in rows.items())


def answer(word: str, facts: ServerFacts) -> str:
    """The text ZooKeeper sends back for ``word``, then it closes the connection."""
    if word == "ruok":
        return "imok"
    if word == "srvr":
        return _srvr(facts, clients=False)
    if word == "stat":
        return _srvr(facts, clients=True)
    if word == "mntr":
        return _mntr(facts)
    if word == "envi":
        return _envi(facts)
    if word == "conf":
        return _conf(facts)
    if word == "isro":
        return "rw"
    if word == "cons":
        return "".join(f" /{a}[1](queued=0,recved={r},sent={s})\n" for a, r, s in facts.connections) + "\n"
    # FourLetterCommands: a known word that is not enabled
    return f"{word} is not executed because it is not in the whitelist.\n"
