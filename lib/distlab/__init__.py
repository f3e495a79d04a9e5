"""distlab — learn distributed coordination by building it.

The folder layout follows the syllabus (see README.md):

- ``distlab.sim``   — deterministic discrete-event simulator (virtual clock, seeded RNG, faults)
- ``distlab.zk``    — ZooKeeper's data tree, sessions and watches
- ``distlab.bench`` — the ``distlab bench ...`` benchmarks
- ``distlab.cli``   — the ``distlab`` command (argument parsing only)

Protocol packages (``zk`` and later ``zab``, ``locks``, ``rpc``, ``txn``) never import from
``sim``, ``viz``, ``grading`` or ``cli``: drivers import cores, never the reverse.
"""

__version__ = "0.1.0"
