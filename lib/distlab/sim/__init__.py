"""``distlab.sim`` — the deterministic discrete-event simulator every protocol runs inside.

- :class:`World` — virtual clock, event heap, seeded RNG, nodes, crash and restart;
- :mod:`~distlab.sim.network` — latency distributions, loss, duplication, reordering,
  partitions and one-way cuts;
- :mod:`~distlab.sim.faults` — fault schedules as data (and random ones from a seed);
- :mod:`~distlab.sim.trace` — the typed, JSON-serialisable trace.

The processes it runs follow the sans-I/O contract in :mod:`distlab.sansio`.
"""

from distlab.sansio import Deliver, Effects, Process, Start, Timer, UsageError
from distlab.sim.faults import Crash, Cut, Fault, FaultSchedule, Heal, Partition, Restart, random_schedule
from distlab.sim.network import Exponential, Fixed, LinkConfig, Network, Normal, Uniform
from distlab.sim.trace import Trace
from distlab.sim.world import ENV, InFlight, ProcessError, World

__all__ = [
    "World", "InFlight", "ProcessError", "ENV",
    "LinkConfig", "Network", "Fixed", "Uniform", "Exponential", "Normal",
    "Fault", "Crash", "Restart", "Partition", "Cut", "Heal", "FaultSchedule", "random_schedule",
    "Trace",
    "Start", "Deliver", "Timer", "Effects", "Process", "UsageError",
]
