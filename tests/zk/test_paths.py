"""Path rules: ``PathUtils.validatePath`` (cases from ZooKeeper's ``PathUtilsTest``) and helpers."""

from __future__ import annotations

import pytest

from distlab.zk.errors import BadArgumentsError
from distlab.zk.paths import basename, child_path, is_special_path, parent_of, validate_path

VALID = [
    ("/", "root"),
    ("/this is / a valid/path", "PathUtilsTest.testValidPath_ValidPath (spaces)"),
    ("/name/with.period.", "PathUtilsTest: periods inside a name"),
    ("/a/...", "three dots is a name"),
    ("/a/.b", "dot prefix is a name"),
    ("/a/b..", "dot suffix is a name"),
    ("/test\u0020", "U+0020 allowed"),
    ("/test\u007e", "U+007E allowed"),
    ("/test\u00a0", "U+00A0 allowed (after the C1 range)"),
    ("/test\uffef", "U+FFEF allowed (before the specials)"),
    ("/\u4e2d\u6587", "CJK allowed"),
    ("/zookeeper", "the reserved name is still a valid path"),
]

# (path, words the message must contain, id)
INVALID = [
    ("", "must not be empty", "empty"),
    ("not/valid", "must start with '/'", "relative"),
    ("/ends/with/slash/", "must not end with '/'", "trailing slash"),
    ("/test\u0000", "null character not allowed at index 5", "NUL"),
    ("/double//slash", "empty node name at index 8", "double slash"),
    ("//", "must not end with '/'", "two slashes"),
    ("/single/./period", "'.' not allowed at index 8", "dot segment"),
    ("/double/../period", "'..' not allowed at index 9", "dot-dot segment"),
    ("/.", "'.' not allowed", "dot at the end"),
    ("/a/..", "'..' not allowed", "dot-dot at the end"),
    ("/test\u0001", "invalid character U+0001", "U+0001"),
    ("/test\u001f", "invalid character U+001F", "U+001F"),
    ("/test\u007f", "invalid character U+007F", "U+007F"),
    ("/test\u009f", "invalid character U+009F", "U+009F"),
    ("/test\ud800", "invalid character U+D800", "U+D800 surrogate"),
    ("/test\uf8ff", "invalid character U+F8FF", "U+F8FF private use"),
    ("/test\ufff0", "invalid character U+FFF0", "U+FFF0 specials"),
    ("/test\uffff", "invalid character U+FFFF", "U+FFFF"),
    ("/smile\U0001f600", "invalid character U+1F600", "supplementary (a surrogate pair in Java)"),
    ("/a//b/./c", "empty node name at index 3", "first problem wins"),
]


@pytest.mark.parametrize("path", [p for p, _ in VALID], ids=[i for _, i in VALID])
def test_valid_paths_pass(path: str) -> None:
    validate_path(path)


@pytest.mark.parametrize(
    "path, message", [(p, m) for p, m, _ in INVALID], ids=[i for _, _, i in INVALID]
)
def test_invalid_paths_name_the_path_and_the_rule(path: str, message: str) -> None:
    with pytest.raises(BadArgumentsError) as caught:
        validate_path(path)
    error = caught.value
    assert error.path == path
    assert error.code == -8
    assert message in str(error)
    assert "PathUtils.validatePath" in str(error)


def test_none_is_refused() -> None:
    with pytest.raises(BadArgumentsError, match="must be a str"):
        validate_path(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "prefix, valid",
    [("/q/", True), ("/q/lock-", True), ("/", True), ("/q//", False), ("q/", False)],
    ids=["trailing slash", "name prefix", "root", "empty segment", "relative"],
)
def test_sequential_prefix_is_checked_with_a_digit_appended(prefix: str, valid: bool) -> None:
    # validatePath(path, isSequential) checks path + "1"
    if valid:
        validate_path(prefix, is_sequential=True)
    else:
        with pytest.raises(BadArgumentsError):
            validate_path(prefix, is_sequential=True)


def test_sequential_prefix_with_trailing_slash_is_invalid_as_a_plain_path() -> None:
    with pytest.raises(BadArgumentsError, match="must not end with '/'"):
        validate_path("/q/")


@pytest.mark.parametrize(
    "path, parent, name",
    [("/a", "/", "a"), ("/a/b", "/a", "b"), ("/a/b/c", "/a/b", "c"), ("/q/", "/q", "")],
    ids=["top level", "nested", "deep", "sequential prefix"],
)
def test_parent_and_basename(path: str, parent: str, name: str) -> None:
    assert parent_of(path) == parent
    assert basename(path) == name


def test_root_has_no_parent() -> None:
    with pytest.raises(BadArgumentsError, match="root has no parent"):
        parent_of("/")
    assert basename("/") == ""


@pytest.mark.parametrize("parent, name, path", [("/", "a", "/a"), ("/a", "b", "/a/b")], ids=["root", "nested"])
def test_child_path(parent: str, name: str, path: str) -> None:
    assert child_path(parent, name) == path


@pytest.mark.parametrize(
    "path, special",
    [
        ("/", True),
        ("/zookeeper", True),
        ("/zookeeper/quota", True),
        ("/zookeeper/config", True),
        ("/zookeeper/mine", False),
        ("/app", False),
    ],
    ids=["root", "zookeeper", "quota", "config", "user node under zookeeper", "user node"],
)
def test_special_paths(path: str, special: bool) -> None:
    # DataTree.isSpecialPath
    assert is_special_path(path) is special
