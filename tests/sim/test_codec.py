"""distlab.codec: one reversible codec, strict for the sandbox, lenient for traces."""

from __future__ import annotations

import dataclasses
import enum

import pytest

from distlab.codec import Codec, CodecError, Foreign
from distlab.grading.codecs import SANDBOX
from distlab.sim.trace import TRACE_CODEC
from distlab.zab.events import Committed
from distlab.zab.messages import ServerState
from distlab.zk.errors import NoNodeError
from distlab.zk.ops import Create, GetChildren


class Colour(enum.Enum):
    RED = 1


@dataclasses.dataclass(frozen=True)
class Mine:
    x: tuple
    colour: Colour


VALUES = [
    None, True, 3, -2.5, "s", b"\x00\xff", (1, (2, 3)), [1, [2]], {1, 2}, frozenset({"a"}),
    {1: "a", "k": (1,)}, ServerState.LOOKING, Committed(sid=1, zxid=5, txn="ab", acks=(1, 2)),
    Create("/lock/n-", ephemeral=True, sequence=True), GetChildren("/lock", watch=True),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_the_trace_codec_round_trips_known_values(value):
    data = TRACE_CODEC.encode(value)
    back = TRACE_CODEC.decode(data)
    assert back == value and type(back) is type(value)
    assert TRACE_CODEC.encode(back) == data


def test_sets_encode_in_one_order_whatever_the_insertion_order():
    assert TRACE_CODEC.encode({"b", "a", "c"}) == TRACE_CODEC.encode({"c", "a", "b"})


def test_unknown_classes_come_back_foreign_in_traces_and_are_refused_by_the_sandbox():
    value = Mine((1, 2), Colour.RED)
    data = TRACE_CODEC.encode(value)
    back = TRACE_CODEC.decode(data)
    assert isinstance(back, Foreign) and back["type"] == "Mine" and back["x"] == (1, 2)
    assert TRACE_CODEC.encode(back) == data
    with pytest.raises(CodecError, match="may not cross the sandbox boundary"):
        SANDBOX.encode(value)
    with pytest.raises(CodecError):
        SANDBOX.decode(data)


def test_zookeeper_errors_cross_both_and_nan_crosses_neither():
    error = TRACE_CODEC.decode(TRACE_CODEC.encode(NoNodeError("/x", "gone")))
    assert type(error) is NoNodeError and error.path == "/x"
    for codec in (TRACE_CODEC, SANDBOX):
        with pytest.raises(CodecError):
            codec.encode(float("nan"))


def test_two_modules_with_one_class_name_are_refused():
    with pytest.raises(CodecError, match="two classes named"):
        Codec(modules=("distlab.zab.messages", "distlab.txn.two_phase")).registry
