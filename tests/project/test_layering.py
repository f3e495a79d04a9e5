"""The architecture rules, checked: protocol cores never import their drivers.

Protocol packages (zk, zab, locks, rpc, txn) and the sans-I/O contract import nothing from
sim, viz, grading or cli, and no protocol or simulator module touches sockets, threads, the
wall clock or the global random module. Drivers import cores, never the reverse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "lib" / "distlab"
PROTOCOL_PACKAGES = ["zk", "zab", "locks", "rpc", "txn"]
DRIVERS = {"distlab.sim", "distlab.viz", "distlab.grading", "distlab.cli", "distlab.bench"}
IO_MODULES = {"socket", "threading", "asyncio", "time", "selectors", "subprocess"}
# Functions of the random module that use its hidden global generator.
GLOBAL_RANDOM = {"random", "randint", "randrange", "choice", "choices", "shuffle", "sample",
                 "uniform", "gauss", "seed", "getrandbits", "expovariate"}


def modules(*packages: str) -> list[Path]:
    found = []
    for package in packages:
        path = LIB / package
        if path.is_dir():
            found += sorted(path.rglob("*.py"))
        elif path.with_suffix(".py").exists():
            found.append(path.with_suffix(".py"))
    return found


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_there_are_protocol_modules_to_check():
    assert modules("zk"), "distlab.zk should exist"
    assert modules("sansio")


@pytest.mark.parametrize("path", modules(*PROTOCOL_PACKAGES, "sansio"), ids=lambda p: str(p.relative_to(LIB)))
def test_protocol_modules_do_not_import_drivers_or_io(path):
    names = imported_names(path)
    back_edges = {n for n in names if any(n == d or n.startswith(d + ".") for d in DRIVERS)}
    assert not back_edges, f"{path.relative_to(LIB)} imports drivers {sorted(back_edges)}"
    io = {n for n in names if n.split(".")[0] in IO_MODULES}
    assert not io, f"{path.relative_to(LIB)} imports I/O or clock modules {sorted(io)}"


@pytest.mark.parametrize("path", modules(*PROTOCOL_PACKAGES, "sansio", "sim"), ids=lambda p: str(p.relative_to(LIB)))
def test_no_module_uses_the_global_random_generator(path):
    tree = ast.parse(path.read_text(), str(path))
    offenders = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "random" and node.attr in GLOBAL_RANDOM):
            offenders.append(f"line {node.lineno}: random.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "random":
            offenders += [f"line {node.lineno}: from random import {a.name}"
                          for a in node.names if a.name in GLOBAL_RANDOM]
    assert not offenders, f"{path.relative_to(LIB)} uses the global RNG: {offenders}"
