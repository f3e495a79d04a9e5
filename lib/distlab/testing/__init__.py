"""Drivers for testing protocols: fault-schedule fuzzing (``distlab fuzz``) and scenarios."""
