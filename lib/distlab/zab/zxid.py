"""ZooKeeper transaction ids: ``zxid = epoch << 32 | counter``.

Rule from ``server/util/ZxidUtils.java``: the high 32 bits of the 64-bit zxid hold the epoch
of the leader that proposed the transaction, the low 32 bits a counter that leader increments.
A leader of epoch ``e`` starts at ``(e, 0)`` — a *new-epoch zxid* that marks "epoch begun,
nothing committed in it yet" and is never itself a transaction; its first transaction is
``(e, 1)``. Because the epoch is in the high bits, plain integer comparison orders zxids by
epoch first, then by counter.
"""

from __future__ import annotations

from distlab.sansio import UsageError

__all__ = ["make_zxid", "epoch_of", "counter_of", "is_new_epoch_zxid", "format_zxid", "MAX_COUNTER"]

MAX_COUNTER = 0xFFFFFFFF  # reaching it forces a new epoch (Leader.propose, ZOOKEEPER-1277)


def make_zxid(epoch: int, counter: int) -> int:
    """``make_zxid(1, 7) == 0x100000007``."""
    if not 0 <= epoch <= 0x7FFFFFFF:
        raise UsageError(f"epoch must be in [0, 2**31), got {epoch!r}")
    if not 0 <= counter <= MAX_COUNTER:
        raise UsageError(f"counter must be in [0, 2**32), got {counter!r}")
    return (epoch << 32) | counter


def epoch_of(zxid: int) -> int:
    """The epoch in the high 32 bits (an arithmetic shift, as in ``ZxidUtils.getEpochFromZxid``)."""
    return zxid >> 32


def counter_of(zxid: int) -> int:
    """The counter in the low 32 bits."""
    return zxid & 0xFFFFFFFF


def is_new_epoch_zxid(zxid: int) -> bool:
    """True for ``(e, 0)``: an epoch has begun but holds no transaction yet."""
    return counter_of(zxid) == 0


def format_zxid(zxid: int) -> str:
    """``0x1_00000007`` — epoch and counter readable at a glance (``-1`` stays ``-1``)."""
    if zxid < 0:
        return str(zxid)
    return f"0x{epoch_of(zxid):x}_{counter_of(zxid):08x}"
