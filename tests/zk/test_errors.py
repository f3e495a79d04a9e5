"""Error classes: ``KeeperException.Code`` values under kazoo's names."""

from __future__ import annotations

import pytest

from distlab.zk import errors
from distlab.zk.errors import (
    BadArgumentsError,
    Code,
    ConnectionClosedError,
    ConnectionLossError,
    DataTooLargeError,
    KeeperError,
    NoNodeError,
    RuntimeInconsistencyError,
    SessionExpiredError,
    TxnOrderError,
    error_for_code,
)

# (code, kazoo class name) for every KeeperException.Code (reference notes, section 0.4)
CODES = [
    (0, "RolledBackError"),
    (-1, "SystemZookeeperError"),
    (-2, "RuntimeInconsistencyError"),
    (-3, "DataInconsistencyError"),
    (-4, "ConnectionLossError"),
    (-5, "MarshallingError"),
    (-6, "UnimplementedError"),
    (-7, "OperationTimeoutError"),
    (-8, "BadArgumentsError"),
    (-12, "UnknownSessionError"),
    (-13, "NewConfigNoQuorumError"),
    (-14, "ReconfigInProcessError"),
    (-100, "APIError"),
    (-101, "NoNodeError"),
    (-102, "NoAuthError"),
    (-103, "BadVersionError"),
    (-108, "NoChildrenForEphemeralsError"),
    (-110, "NodeExistsError"),
    (-111, "NotEmptyError"),
    (-112, "SessionExpiredError"),
    (-113, "InvalidCallbackError"),
    (-114, "InvalidACLError"),
    (-115, "AuthFailedError"),
    (-118, "SessionMovedError"),
    (-119, "NotReadOnlyCallError"),
    (-120, "EphemeralOnLocalSessionError"),
    (-121, "NoWatcherError"),
    (-122, "RequestTimeoutError"),
    (-123, "ReconfigDisabledError"),
    (-124, "SessionClosedRequireSaslError"),
    (-125, "QuotaExceededError"),
    (-127, "ThrottledOpError"),
]


@pytest.mark.parametrize("code, name", CODES, ids=[n for _, n in CODES])
def test_each_code_has_one_class(code: int, name: str) -> None:
    cls = getattr(errors, name)
    assert issubclass(cls, KeeperError)
    assert cls.code == code
    assert error_for_code(code) is cls
    assert Code(code) == code


def test_every_code_is_covered() -> None:
    assert sorted(int(c) for c in Code) == sorted(code for code, _ in CODES)


def test_unknown_code_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown ZooKeeper error code -9"):
        error_for_code(-9)


def test_message_names_code_path_and_rule() -> None:
    error = NoNodeError("/a/b", "parent /a does not exist")
    assert str(error) == "NoNode: /a/b: parent /a does not exist"
    assert error.path == "/a/b"
    assert error.code == -101
    assert error.results is None


def test_unprintable_path_is_quoted() -> None:
    assert str(BadArgumentsError("/a\u0001", "bad")) == "BadArguments: '/a\\x01': bad"


def test_results_are_attached_as_a_tuple() -> None:
    error = NoNodeError("/x", results=[1, 2])
    assert error.results == (1, 2)


def test_base_class_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        KeeperError("/a")


@pytest.mark.parametrize(
    "cls, parent, code",
    [
        (DataTooLargeError, ConnectionLossError, -4),
        (TxnOrderError, RuntimeInconsistencyError, -2),
        (ConnectionClosedError, SessionExpiredError, -112),
    ],
    ids=["data too large is a ConnectionLoss", "txn order is a RuntimeInconsistency", "closed is expired"],
)
def test_descriptive_subclasses_keep_zookeepers_code(cls: type, parent: type, code: int) -> None:
    assert issubclass(cls, parent)
    assert cls.code == code
    assert error_for_code(code) is parent  # the code maps to ZooKeeper's class


def test_kazoo_aliases() -> None:
    assert errors.RuntimeInconsistency is RuntimeInconsistencyError
    assert errors.ConnectionLoss is ConnectionLossError
    assert errors.ZookeeperError is KeeperError
