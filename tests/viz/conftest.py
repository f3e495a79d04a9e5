"""Fixtures for the viewer's tests: runs built once per session (they are deterministic)."""

from __future__ import annotations

import pytest

from distlab.viz.runs import Run, Scenario, parse_histories


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab and the exported HTML in headless Chromium")


@pytest.fixture(scope="session")
def election_run() -> Run:
    """5 servers, seed 7, servers starting with different histories (the replay's default)."""
    return Run(Scenario("election", 5, 7, histories=parse_histories("random", 5, 7)))


@pytest.fixture(scope="session")
def plain_election_run() -> Run:
    """5 servers, seed 7, empty disks: the highest id wins."""
    return Run(Scenario("election", 5, 7))


@pytest.fixture(scope="session")
def crash_run() -> Run:
    return Run(Scenario("election", 5, 7, crash_leader_at=1000))
