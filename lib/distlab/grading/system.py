"""A learner's whole ZooKeeper, as the ``Impl`` the servers run (the capstone's seam).

The capstone's graded cell defines the pieces of Labs 3-7 — the data tree, the vote order and
election step, the sync choice, the quorum and commit rules, the follower and the recovery.
:class:`LocalSystem` (in the notebook) and :class:`RemoteSystem` (in the grader, every piece
a proxy into the sandbox) build the same :class:`~distlab.zab.config.Impl` from them, so the
learner's system runs, is fuzzed and is viewed exactly as the reference is.

Seams a piece is handed (``handle_notification`` gets ``vote_order`` and ``has_quorum``)
are the learner's own pieces here: it is their system, not a mix with the reference.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from distlab.zab.config import Impl

__all__ = ["IMPL_FIELDS", "LocalSystem", "RemoteSystem"]

# Impl field -> (the learner's name for it, the seams it is handed)
IMPL_FIELDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "vote_order": ("vote_order", ()),
    "handle_notification": ("handle_notification", ("vote_order", "has_quorum")),
    "choose_sync_mode": ("choose_sync_mode", ()),
    "has_quorum": ("has_quorum", ()),
    "process_ack": ("process_ack", ("has_quorum",)),
    "epoch_to_propose": ("epoch_to_propose", ("has_quorum",)),
    "follower_step": ("follower_step", ()),
    "recover_history": ("recover_history", ()),
    "sync_step": ("sync_step", ()),
}
TREE = "ZkDataTree"


class _System:
    components: tuple[tuple[str, str], ...]

    def piece(self, name: str, seams: tuple[str, ...]) -> Callable[..., Any]:
        raise NotImplementedError

    def tree_class(self) -> Callable[[], Any]:
        raise NotImplementedError

    def impl(self) -> Impl:
        """The Impl of the learner's system (only the pieces it defines; the rest stay ZooKeeper's)."""
        from distlab.zk.plugged import tree_factory

        names = {name for name, _ in self.components}
        fields = {field: self.piece(name, seams) for field, (name, seams) in IMPL_FIELDS.items() if name in names}
        if TREE in names:
            fields["tree"] = tree_factory(self.tree_class())
        return Impl(**fields)


class LocalSystem(_System):
    """The pieces as the notebook defined them (``globals()``)."""

    def __init__(self, namespace: Mapping[str, Any], components: tuple[tuple[str, str], ...]) -> None:
        missing = [name for name, _ in components if not callable(namespace.get(name))]
        if missing:
            raise NameError(f"your system lacks {', '.join(missing)}: define them in the capstone's graded cell")
        self.namespace, self.components = namespace, components

    def piece(self, name: str, seams: tuple[str, ...]) -> Callable[..., Any]:
        function = self.namespace[name]
        if not seams:
            return function
        own = {seam: self.namespace[seam] for seam in seams}

        def with_own_seams(*args: Any, **_given: Any) -> Any:
            data = tuple(a for a in args if not callable(a))
            return function(*data, **own)

        with_own_seams.__name__ = name
        return with_own_seams

    def tree_class(self) -> Callable[[], Any]:
        return self.namespace[TREE]


class RemoteSystem(_System):
    """The pieces living in the grader's sandbox, each called across it."""

    def __init__(self, sandbox: Any, components: tuple[tuple[str, str], ...]) -> None:
        self.sandbox, self.components = sandbox, components

    def piece(self, name: str, seams: tuple[str, ...]) -> Callable[..., Any]:
        sandbox = self.sandbox

        def call(*args: Any, **_given: Any) -> Any:
            # seams passed in stay here; the sandbox hands the learner's own of those names
            data = tuple(a for a in args if not callable(a))
            return sandbox.call(name, *data, own=seams)

        call.__name__ = name
        return call

    def tree_class(self) -> Callable[[], Any]:
        from distlab.grading.runner import RemoteClass

        return RemoteClass(self.sandbox, TREE)


def impl_of(namespace: Mapping[str, Any]) -> Impl:
    """The capstone's ``Impl`` from a notebook's ``globals()``: every server runs your pieces."""
    from distlab.grading.lab10 import COMPONENTS

    return LocalSystem(namespace, COMPONENTS).impl()


__all__.append("impl_of")
