"""distlab.zk stays a sans-I/O core: no clock, sockets, threads or global random; no drivers."""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib

import pytest

import distlab.zk

PACKAGE_DIR = pathlib.Path(distlab.zk.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE_DIR.glob("*.py") if p.stem != "__init__")
FORBIDDEN = {"time", "socket", "threading", "asyncio", "random", "selectors", "multiprocessing", "datetime"}
DRIVERS = ("distlab.sim", "distlab.viz", "distlab.grading", "distlab.cli")


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", MODULES)
def test_no_clock_io_threads_or_global_random(module: str) -> None:
    imported = _imports(PACKAGE_DIR / f"{module}.py")
    assert not {name.split(".")[0] for name in imported} & FORBIDDEN
    assert not [name for name in imported if name.startswith(DRIVERS)]


@pytest.mark.parametrize("module", MODULES)
def test_public_names_are_documented(module: str) -> None:
    mod = importlib.import_module(f"distlab.zk.{module}")
    assert mod.__doc__
    for name in mod.__all__:
        value = getattr(mod, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{module}.{name} has no docstring"


def test_package_reexports_every_public_name() -> None:
    for module in MODULES:
        for name in importlib.import_module(f"distlab.zk.{module}").__all__:
            assert getattr(distlab.zk, name) is getattr(importlib.import_module(f"distlab.zk.{module}"), name)


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    import doctest

    result = doctest.testmod(importlib.import_module(f"distlab.zk.{module}"))
    assert result.failed == 0
