"""Wire records <-> ``distlab.zk`` requests and results, shared by every front end.

``to_request`` turns a decoded op record into the request ``ops.prepare`` takes, built with
``as_received`` (no client-side checks: the server judges paths itself, in
``PrepRequestProcessor``'s order). ``encode_result`` writes a write's result as its response
record (``CreateResponse``, ``Create2Response``, ``SetDataResponse``, ``MultiResponse`` ...).
"""

from __future__ import annotations

from distlab.server import jute
from distlab.server.jute import OpCode, Writer
from distlab.zk.errors import BadArgumentsError, UnimplementedError
from distlab.zk.ops import (
    CheckResult,
    CheckVersionRequest,
    CreateRequest,
    CreateResult,
    DeleteRequest,
    DeleteResult,
    ErrorResult,
    MultiRequest,
    MultiResult,
    SetACLRequest,
    SetACLResult,
    SetDataRequest,
    SetDataResult,
    as_received,
)
from distlab.zk.stat import CreateMode

__all__ = ["to_request", "encode_result"]


def to_request(op_type: int, record: object, op_types: list[int]) -> object:
    """The ``ops`` request for a decoded write record; a multi's op codes go to ``op_types``.

    Raises:
        UnimplementedError: containers and TTL nodes (not modelled; 3.8 without extended
            types answers TTL creates the same way).
        BadArgumentsError: create flags no ``CreateMode`` has (``CreateMode.fromFlag``).
    """
    if op_type == OpCode.multi:
        assert isinstance(record, jute.MultiOp)
        subs = tuple(to_request(t, r, []) for t, r in record.ops)
        op_types += [t for t, _ in record.ops]
        return as_received(MultiRequest, ops=subs)
    if isinstance(record, jute.CreateOp):
        if op_type in (OpCode.createContainer, OpCode.createTTL) or record.flags in (4, 5, 6):
            raise UnimplementedError(record.path, "containers and TTL nodes are not modelled")
        if record.flags not in (0, 1, 2, 3):
            raise BadArgumentsError(record.path, f"unknown create flags {record.flags}")
        return as_received(CreateRequest, path=record.path, data=record.data,
                           mode=CreateMode(record.flags), acl=tuple(record.acl))
    if isinstance(record, jute.DeleteOp):
        return as_received(DeleteRequest, path=record.path, version=record.version)
    if isinstance(record, jute.SetDataOp):
        return as_received(SetDataRequest, path=record.path, data=record.data, version=record.version)
    if isinstance(record, jute.CheckOp):
        return as_received(CheckVersionRequest, path=record.path, version=record.version)
    if isinstance(record, jute.SetACLOp):
        return as_received(SetACLRequest, path=record.path, acl=tuple(record.acl), version=record.version)
    raise UnimplementedError(getattr(record, "path", None), "not a write distlab serves")


def encode_result(op_type: int, result: object, op_types: list[int]) -> bytes:
    """A write's response record (a multi's per-op ``MultiHeader`` + result, then the end)."""
    w = Writer()
    if isinstance(result, MultiResult):
        for sub_type, sub in zip(op_types, result.results):
            if isinstance(sub, ErrorResult):
                w.int(-1).bool(False).int(sub.err).int(sub.err)
            else:
                w.int(sub_type).bool(False).int(0).raw(encode_result(sub_type, sub, []))
        return w.int(-1).bool(True).int(-1).getvalue()
    if isinstance(result, CreateResult):
        w.string(result.path)
        if op_type in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
            w.stat(result.stat)
        return w.getvalue()
    if isinstance(result, (SetDataResult, SetACLResult)):
        return w.stat(result.stat).getvalue()
    if isinstance(result, (CheckResult, DeleteResult)):
        return b""
    raise TypeError(f"no encoding for {result!r}")
