"""The wire format: explicit, versioned frames; every bad frame refused with the first broken rule.

Rows follow the order of checks in ``distlab.rpc.codec`` (truncated header, magic, version,
kind, oversized, truncated body, trailing, body); the header mirrors Dubbo's 16-byte exchange
header (magic, flags, request id, body length).
"""

from __future__ import annotations

import struct

import pytest

from distlab.rpc.codec import (
    HEADER_SIZE,
    MAGIC,
    MAX_BODY,
    FrameBuffer,
    FrameError,
    decode_frame,
    encode_frame,
    reply_of,
    request_frame,
    response_frame,
)

GOOD = request_frame(7, "calc", "add", [2, 3], acked=7)


def header(length: int, *, magic: bytes = MAGIC, version: int = 1, kind: int = 1, request_id: int = 1) -> bytes:
    return struct.pack(">2sBBQI", magic, version, kind, request_id, length)


def patch(frame: bytes, **fields) -> bytes:
    magic, version, kind, request_id, length = struct.unpack_from(">2sBBQI", frame)
    values = {"magic": magic, "version": version, "kind": kind, "request_id": request_id, "length": length}
    values.update(fields)
    return header(values.pop("length"), **values) + frame[HEADER_SIZE:]


@pytest.mark.parametrize("frame, max_body, reason", [
    (b"", MAX_BODY, "truncated"),
    (GOOD[:15], MAX_BODY, "truncated"),
    (b"GET / HTTP/1.1\r\nHost: calc\r\n\r\n", MAX_BODY, "magic"),
    (patch(GOOD, magic=b"\xda\xbb"), MAX_BODY, "magic"),
    (patch(GOOD, version=2), MAX_BODY, "version"),
    (patch(GOOD, version=0), MAX_BODY, "version"),
    (patch(GOOD, kind=5), MAX_BODY, "kind"),
    (patch(GOOD, length=MAX_BODY + 1), MAX_BODY, "oversized"),
    (patch(GOOD, length=2**32 - 1), MAX_BODY, "oversized"),
    (GOOD, 10, "oversized"),
    (GOOD[:-1], MAX_BODY, "truncated"),
    (GOOD[:HEADER_SIZE], MAX_BODY, "truncated"),
    (GOOD + b"\x00", MAX_BODY, "trailing"),
    (GOOD + GOOD, MAX_BODY, "trailing"),
    (header(6) + b"[1, 2]", MAX_BODY, "body"),
    (header(4) + b"\xff\xfe\xfd\xfc", MAX_BODY, "body"),
    (header(6) + b'{"a": ', MAX_BODY, "body"),
    (header(0), MAX_BODY, "body"),
    (patch(GOOD, magic=b"\x00\x00", version=9), MAX_BODY, "magic"),
    (patch(GOOD, version=7, kind=9), MAX_BODY, "version"),
    (patch(GOOD, kind=8, length=10**9), MAX_BODY, "kind"),
    (patch(GOOD, length=10**6) + b"xx", MAX_BODY, "oversized"),
], ids=["empty", "15-bytes", "http", "dubbo-magic", "version-2", "version-0", "kind-5", "max+1", "4GB",
        "max_body-param", "one-short", "header-only", "one-extra", "two-frames", "json-array", "not-utf8",
        "cut-json", "empty-body", "magic-before-version", "version-before-kind", "kind-before-oversized",
        "oversized-before-trailing"])
def test_a_bad_frame_is_refused_with_the_first_broken_rule(frame, max_body, reason):
    with pytest.raises(FrameError) as refused:
        decode_frame(frame, max_body)
    assert refused.value.reason == reason
    assert str(refused.value).startswith(reason + ":")


@pytest.mark.parametrize("kind, request_id, body", [
    ("request", 7, {"service": "calc", "method": "add", "args": [2, 3], "acked": 7, "session": 0}),
    ("response", 2**64 - 1, {"ok": True, "result": None}),
    ("response", 0, {"ok": False, "error": {"type": "KeyError", "message": "'x'"}}),
    ("hello", 0, {"service": "calc", "versions": [1]}),
    ("welcome", 0, {"service": "calc", "version": 1, "methods": ["add"]}),
    ("request", 1, {"text": "正常 ünïcode \"quoted\"\n", "nested": {"a": [1, 2.5, None, True]}}),
], ids=["request", "largest-id", "error", "hello", "welcome", "unicode"])
def test_frames_round_trip(kind, request_id, body):
    frame = encode_frame(kind, request_id, body)
    assert frame[:2] == MAGIC and len(frame) == HEADER_SIZE + struct.unpack_from(">I", frame, 12)[0]
    assert decode_frame(frame) == {"version": 1, "kind": kind, "id": request_id, "body": body}


def test_encoding_refuses_what_json_cannot_carry_and_oversized_bodies():
    with pytest.raises(FrameError, match="unserialisable"):
        encode_frame("request", 1, {"blob": b"bytes"})
    with pytest.raises(FrameError, match="unserialisable"):
        encode_frame("request", 1, {"x": float("nan")})
    with pytest.raises(FrameError, match="oversized"):
        encode_frame("request", 1, {"x": "y" * MAX_BODY})
    with pytest.raises(ValueError):
        encode_frame("gossip", 1, {})
    with pytest.raises(ValueError):
        encode_frame("request", -1, {})


def test_a_result_that_cannot_be_sent_becomes_an_error_reply():
    reply = reply_of(decode_frame(response_frame(3, True, {1, 2})))
    assert reply["ok"] is False and reply["error"]["type"] == "UnserialisableResult"


def test_an_unknown_reason_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown FrameError reason"):
        FrameError("weird")


def test_a_stream_is_cut_into_frames_whatever_the_reads():
    a, b = request_frame(1, "calc", "add", [1, 2]), request_frame(2, "calc", "add", [3, 4])
    stream = a + b
    for cut in range(len(stream) + 1):
        buffer = FrameBuffer()
        frames = buffer.feed(stream[:cut]) + buffer.feed(stream[cut:])
        assert [f["id"] for f in frames] == [1, 2]
        assert buffer.buffered == 0


def test_a_stream_refuses_an_oversized_frame_from_its_header_and_stays_broken():
    buffer = FrameBuffer(max_body=100)
    with pytest.raises(FrameError) as refused:
        buffer.feed(header(10**9))
    assert refused.value.reason == "oversized"
    with pytest.raises(FrameError, match="the stream broke earlier"):
        buffer.feed(GOOD)
