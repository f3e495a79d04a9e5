"""Znode path rules (``org.apache.zookeeper.common.PathUtils``) and path helpers.

A znode path is absolute, ``/``-separated, and names every node from the root::

    /                   the root
    /app/locks/lock-    a valid path
    /app/               invalid: ends with '/'
    /app//locks         invalid: empty node name
    /app/./locks        invalid: relative segment

``validate_path`` follows ``PathUtils.validatePath`` check by check, in the same order, so a
path with two problems reports the same one ZooKeeper reports. For a sequential create the
server appends a 10-digit counter, so ``"/q/"`` is a valid *prefix* there
(``validatePath(path, isSequential)`` checks ``path + "1"``).

Java checks UTF-16 code units; Python strings hold code points. A code point above U+FFFF is
two surrogates (U+D800-U+DFFF) in Java, and those are forbidden, so distlab forbids it too.
"""

from __future__ import annotations

import re
from typing import Protocol

from distlab.zk.errors import BadArgumentsError

__all__ = [
    "PathValidator",
    "ROOT_PATH",
    "ZOOKEEPER_PATH",
    "QUOTA_PATH",
    "CONFIG_PATH",
    "validate_path",
    "parent_of",
    "basename",
    "child_path",
    "is_special_path",
    "path_problem",
]

ROOT_PATH = "/"
ZOOKEEPER_PATH = "/zookeeper"  # DataTree.procZookeeper: the system subtree
QUOTA_PATH = "/zookeeper/quota"  # Quotas.quotaZookeeper
CONFIG_PATH = "/zookeeper/config"  # ZooDefs.CONFIG_NODE: the ensemble's dynamic config

# Characters PathUtils refuses (besides NUL): C0 controls, DEL and C1 controls, surrogates
# and the private-use area, the specials block; plus every supplementary code point, which
# Java would see as a surrogate pair.
_FORBIDDEN_CHARS = "\u0001-\u001f\u007f-\u009f\ud800-\uf8ff\ufff0-\uffff\U00010000-\U0010ffff"
_ANY_PROBLEM = re.compile(f"[\u0000{_FORBIDDEN_CHARS}]|//|/\\.\\.?(?:/|$)")
_FORBIDDEN_CHAR = re.compile(f"[{_FORBIDDEN_CHARS}]")


class PathValidator(Protocol):
    """The ``validate_path`` seam (``PathUtils.validatePath``): raise BadArgumentsError or return.

    A learner's version must accept and refuse exactly the paths in the module docstring's
    table, reporting the same first problem; ``validate_path`` is the reference.
    """

    def __call__(self, path: str, is_sequential: bool = False) -> None: ...


def validate_path(path: str, is_sequential: bool = False) -> None:
    """Raise ``BadArgumentsError`` unless ``path`` is a valid znode path.

    Rule from ``PathUtils.validatePath(String, boolean)``: the path is absolute; it does not end
    with '/' (except the root "/"); it has no empty node name ("//"); no segment is "." or "..";
    it contains no NUL, U+0001-U+001F, U+007F-U+009F, U+D800-U+F8FF or U+FFF0-U+FFFF (nor any
    code point above U+FFFF, see the module docstring). With ``is_sequential`` the path is a
    prefix to which the server appends digits, so it is checked as ``path + "1"``.

    >>> validate_path("/a/b")
    >>> validate_path("/q/", is_sequential=True)

    Raises:
        BadArgumentsError: with ``.path`` set to ``path`` and a message naming the rule and the
            index of the first offending character.
    """
    if not isinstance(path, str):
        raise BadArgumentsError(None, f"path must be a str, not {type(path).__name__}")
    checked = path + "1" if is_sequential else path
    if _ANY_PROBLEM.search(checked) is None and checked.startswith("/"):
        if len(checked) == 1 or not checked.endswith("/"):
            return  # fast path: nothing to report
    reason = path_problem(checked)
    if reason is not None:
        raise BadArgumentsError(path, f"{reason} (PathUtils.validatePath)")


def path_problem(path: str) -> str | None:
    """The first rule ``path`` breaks, scanning in ``PathUtils.validatePath``'s order."""
    if len(path) == 0:
        return "path must not be empty"
    if path[0] != "/":
        return "path must start with '/'"
    if len(path) == 1:
        return None  # the root
    if path[-1] == "/":
        return "path must not end with '/'"
    last = "/"
    for i in range(1, len(path)):
        c = path[i]
        ends_segment = i + 1 == len(path) or path[i + 1] == "/"
        if c == "\u0000":
            return f"null character not allowed at index {i}"
        if c == "/" and last == "/":
            return f"empty node name at index {i}"
        if c == "." and last == ".":
            if path[i - 2] == "/" and ends_segment:
                return f"relative path segment '..' not allowed at index {i}"
        elif c == ".":
            if path[i - 1] == "/" and ends_segment:
                return f"relative path segment '.' not allowed at index {i}"
        elif _FORBIDDEN_CHAR.match(c):
            return f"invalid character U+{ord(c):04X} at index {i}"
        last = c
    return None


def parent_of(path: str) -> str:
    """The parent of ``path``: everything before its last '/', or "/" for a top-level node.

    Plain string work, as in ``PrepRequestProcessor.validatePathForCreate`` (it does not
    validate): ``parent_of("/a/b") == "/a"``, ``parent_of("/a") == "/"``, and for a sequential
    prefix ``parent_of("/q/") == "/q"``.

    Raises:
        BadArgumentsError: for the root (it has no parent) or a path without '/'.
    """
    if path == ROOT_PATH:
        raise BadArgumentsError(path, "the root has no parent")
    last_slash = path.rfind("/")
    if last_slash < 0:
        raise BadArgumentsError(path, "path must start with '/'")
    return path[:last_slash] or ROOT_PATH


def basename(path: str) -> str:
    """The last node name of ``path``: ``basename("/a/b") == "b"``; "" for the root."""
    return path[path.rfind("/") + 1 :]


def child_path(parent: str, name: str) -> str:
    """Join a parent path and a child's name: ``child_path("/", "a") == "/a"``."""
    return ("" if parent == ROOT_PATH else parent) + "/" + name


def is_special_path(path: str) -> bool:
    """True for the nodes ZooKeeper owns and refuses to delete (``DataTree.isSpecialPath``).

    These are "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config". Other nodes under
    /zookeeper are ordinary: ZooKeeper lets clients create and delete them.
    """
    return path in _SPECIAL_PATHS


_SPECIAL_PATHS = frozenset({ROOT_PATH, ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH})
