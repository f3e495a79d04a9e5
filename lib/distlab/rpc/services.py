"""The services Lab 8's providers offer, by name: ordinary Python objects, no network in them.

A provider process is built from plain data (its id, the service's name), so the object whose
methods it offers is made here from the name: ``make_service("bank")``. Nothing in these
classes knows it is called remotely; that is the point of RPC (and why a retried
``deposit`` that runs twice deposits twice: it is not idempotent, 幂等).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Bank", "Calculator", "SERVICES", "make_service", "public_methods"]


class Bank:
    """One account. ``deposit`` and ``withdraw`` are not idempotent; ``balance`` is."""

    def __init__(self) -> None:
        self.total = 0

    def deposit(self, amount: int) -> int:
        self.total += amount
        return self.total

    def withdraw(self, amount: int) -> int:
        if amount > self.total:
            raise ValueError(f"insufficient funds: {self.total} < {amount}")
        self.total -= amount
        return self.total

    def balance(self) -> int:
        return self.total


class Calculator:
    def add(self, a: Any, b: Any) -> Any:
        return a + b

    def div(self, a: Any, b: Any) -> Any:
        return a / b


SERVICES = {"bank": Bank, "calc": Calculator}


def make_service(name: str) -> Any:
    """A fresh object of the service called ``name`` (KeyError for one that does not exist)."""
    return SERVICES[name]()


def public_methods(target: Any) -> list[str]:
    """The methods a provider offers: the public callables of ``target``, sorted."""
    return sorted(name for name in dir(target) if not name.startswith("_") and callable(getattr(target, name, None)))
