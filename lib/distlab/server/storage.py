"""The standalone server's disk: a snapshot plus a txn log (``FileTxnSnapLog``), and its codec.

Layout of ``--data DIR`` (ZooKeeper keeps ``version-2/snapshot.<zxid>`` and ``log.<zxid>``)::

    DIR/snapshot.<zxid hex>   DataTree.snapshot() bytes: every node, every open session
    DIR/log.<zxid hex>        one JSON txn per line, every txn after that snapshot

Restoring loads the newest snapshot and replays the log lines after it, so a restart keeps
the data *and* the sessions (a client reconnecting with its session id and password carries
on, as with ZooKeeper). A torn last line, from a crash mid-write, is dropped, as
``FileTxnLog`` drops a txn whose checksum fails.

``encode_txn`` / ``decode_txn`` are pure; ``DiskStore`` is the only part that touches files,
and only the driver calls it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
from pathlib import Path

from distlab.zk import ops
from distlab.zk.acl import ACL, Id
from distlab.zk.ops import Txn
from distlab.zk.tree import DataTree

__all__ = ["encode_txn", "decode_txn", "DiskStore"]

log = logging.getLogger("distlab.server")

# every record a logged txn can contain, by class name
_RECORD_TYPES = {
    cls.__name__: cls
    for cls in (
        ops.CreateTxn, ops.DeleteTxn, ops.SetDataTxn, ops.CheckVersionTxn, ops.SetACLTxn,
        ops.ErrorTxn, ops.MultiTxn, ops.CreateSessionTxn, ops.CloseSessionTxn, ACL, Id,
    )
}


def _encode_value(value: object) -> object:
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode_dataclass(value)
    if isinstance(value, (tuple, list)):
        return [_encode_value(v) for v in value]
    return value


def _encode_dataclass(value: object) -> dict:
    doc = {"t": type(value).__name__}
    for field in dataclasses.fields(value):  # type: ignore[arg-type]
        doc[field.name] = _encode_value(getattr(value, field.name))
    return doc


def _decode_value(value: object) -> object:
    if isinstance(value, dict):
        if "b64" in value:
            return base64.b64decode(value["b64"])
        return _decode_dataclass(value)
    if isinstance(value, list):
        return tuple(_decode_value(v) for v in value)
    return value


def _decode_dataclass(doc: dict) -> object:
    name = doc["t"]
    cls = _RECORD_TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown record type {name!r} in the txn log")
    return cls(**{k: _decode_value(v) for k, v in doc.items() if k != "t"})


def encode_txn(txn: Txn) -> bytes:
    """One txn as one line of JSON (no newline)."""
    return json.dumps(_encode_dataclass(txn), separators=(",", ":")).encode("utf-8")


def decode_txn(line: bytes) -> Txn:
    """The txn ``encode_txn`` wrote. Raises ValueError for anything else."""
    txn = _decode_dataclass(json.loads(line))
    if not isinstance(txn, Txn):
        raise ValueError(f"not a txn: {txn!r}")
    return txn


class DiskStore:
    """Snapshots and txn logs in one directory (the driver's side of persistence)."""

    def __init__(self, directory: str | os.PathLike, fsync: bool = True) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._log = None

    def restore(self) -> tuple[DataTree | None, list[Txn]]:
        """The newest snapshot (or None) and the txns logged after it, in order."""
        snapshots = sorted(self.dir.glob("snapshot.*"), key=lambda p: int(p.suffix[1:], 16))
        tree = None
        since = 0
        if snapshots:
            tree = DataTree.restore(snapshots[-1].read_bytes())
            since = tree.last_processed_zxid
        txns: list[Txn] = []
        for path in sorted(self.dir.glob("log.*"), key=lambda p: int(p.suffix[1:], 16)):
            for number, line in enumerate(path.read_bytes().split(b"\n"), 1):
                if not line.strip():
                    continue
                try:
                    txn = decode_txn(line)
                except ValueError:
                    log.warning("dropping unreadable txn at %s line %d (torn write?)", path, number)
                    break
                if txn.zxid > since:
                    txns.append(txn)
                    since = txn.zxid
        return tree, txns

    def append(self, txns: list[Txn]) -> None:
        """Log txns (before their replies leave: a reply promises the txn is on disk)."""
        if not txns:
            return
        if self._log is None:
            self._log = open(self.dir / f"log.{txns[0].zxid:x}", "ab")
        self._log.write(b"".join(encode_txn(t) + b"\n" for t in txns))
        self._log.flush()
        if self.fsync:
            os.fsync(self._log.fileno())

    def snapshot(self, data: bytes, zxid: int) -> None:
        """Write a snapshot, start a new log after it, and drop the files it replaces."""
        tmp = self.dir / f".snapshot.{zxid:x}.tmp"
        tmp.write_bytes(data)
        if self.fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        final = self.dir / f"snapshot.{zxid:x}"
        os.replace(tmp, final)
        if self._log is not None:
            self._log.close()
            self._log = None
        for old in [*self.dir.glob("snapshot.*"), *self.dir.glob("log.*")]:
            if old != final:
                old.unlink()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
