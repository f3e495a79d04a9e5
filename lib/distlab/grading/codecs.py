"""Plain data across the sandbox boundary: a tagged JSON encoding for distlab's values.

Only plain data crosses between the grader and a learner's process. Values are encoded as
JSON with small tags for what JSON lacks (tuples, sets, bytes, dicts with non-string keys,
enums, dataclasses, named tuples and ``random.Random`` generators, whose whole state crosses so
that a learner's process draws the same numbers in the grader as in the notebook). Decoding rebuilds only classes on an explicit allow
list, through their constructors, so every value is validated again on the grader's side:
a learner's process can answer wrongly, but it cannot hand the grader an object that
pretends to be something else (the "evil ``__eq__``" trick does not cross a JSON pipe).

The machinery is :class:`distlab.codec.Codec`, the same one that writes and reads traces
(:data:`distlab.sim.trace.TRACE_CODEC`): one codec, here with a strict allow-list.
"""

from __future__ import annotations

from distlab.codec import EXCEPTION_MODULES, Codec, CodecError, decode_exception, encode_exception

__all__ = ["encode", "decode", "encode_exception", "decode_exception", "CodecError", "ALLOWED",
           "SANDBOX", "EXCEPTION_MODULES"]


# "module:Class" for every class that may cross the boundary.
ALLOWED = (
    "distlab.zab.election:Vote",
    "distlab.zab.election:ElectionState",
    "distlab.zab.election:ElectionStep",
    "distlab.zab.messages:Notification",
    "distlab.zab.messages:ServerState",
    "distlab.zab.messages:Proposal",
    "distlab.zab.messages:Diff",
    "distlab.zab.messages:Trunc",
    "distlab.zab.messages:ProposalPacket",
    "distlab.zab.messages:Commit",
    "distlab.zab.follower:FollowerLog",
    "distlab.zab.follower:FollowerStep",
    "distlab.zab.learner_sync:SyncView",
    "distlab.zab.learner_sync:SyncStep",
    "distlab.zab.messages:NewLeader",
    "distlab.zab.messages:UpToDate",
    "distlab.zab.messages:Snap",
    "distlab.zab.messages:Inform",
    "distlab.zab.sync:LeaderHistory",
    "distlab.zab.sync:SyncPlan",
    "distlab.zab.sync:SyncMode",
    "distlab.zk.stat:CreateMode",
    "distlab.zk.watches:EventType",
    "distlab.sansio:Start",
    "distlab.sansio:Deliver",
    "distlab.sansio:Timer",
    "distlab.sansio:Disconnected",
    # the lock recipe's operations (a learner's recipe yields them; results come back)
    "distlab.locks.zk:Now",
    "distlab.locks.zk:Session",
    # ... which are distlab.zk.ops's ZooKeeper operations, the one set the client protocol
    # and the data tree share (locks.zk's Create() builds a CreateRequest)
    "distlab.zk.ops:CreateRequest",
    "distlab.zk.ops:GetChildren",
    "distlab.zk.ops:GetData",
    "distlab.zk.ops:SetDataRequest",
    "distlab.zk.ops:Exists",
    "distlab.zk.ops:DeleteRequest",
    "distlab.locks.zk:Pipeline",
    "distlab.locks.zk:AwaitWatch",
    "distlab.locks.zk:Sleep",
    "distlab.zk.stat:Stat",
    "distlab.zk.watches:WatchedEvent",
    "distlab.zk.watches:KeeperState",
    # Lab 3's data tree: the txns it applies, the results and stats it returns
    "distlab.zk.ops:CreateTxn",
    "distlab.zk.ops:DeleteTxn",
    "distlab.zk.ops:SetDataTxn",
    "distlab.zk.ops:CheckVersionTxn",
    "distlab.zk.ops:ErrorTxn",
    "distlab.zk.ops:MultiTxn",
    "distlab.zk.ops:CreateSessionTxn",
    "distlab.zk.ops:CloseSessionTxn",
    "distlab.zk.ops:CreateResult",
    "distlab.zk.ops:DeleteResult",
    "distlab.zk.ops:SetDataResult",
    "distlab.zk.ops:CheckResult",
    "distlab.zk.ops:ErrorResult",
    "distlab.zk.ops:MultiResult",
    "distlab.zk.ops:CreateSessionResult",
    "distlab.zk.ops:CloseSessionResult",
    "distlab.zk.tree:ApplyResult",
    "distlab.zk.stat:StatPersisted",
    # Lab 9's participant: the 2PC messages it receives and sends (RPC frames are bytes)
    "distlab.txn.two_phase:Prepare",
    "distlab.txn.two_phase:TxnVote",  # not "Vote": the codec knows classes by name, and Zab has a Vote
    "distlab.txn.two_phase:Decision",
    "distlab.txn.two_phase:Ack",
    "distlab.txn.two_phase:StatusQuery",
)
# The sandbox's codec: strict, only the classes above (and the ZooKeeper/lock errors of
# distlab.codec.EXCEPTION_MODULES, whose message fields only cross).
SANDBOX = Codec(ALLOWED)
encode = SANDBOX.encode
decode = SANDBOX.decode


def _classes() -> dict[str, type]:
    return SANDBOX.registry
