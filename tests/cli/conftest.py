"""Fixtures of the command-line tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def root_logging():
    """A command (`relay poll`, `relay deliver`) points the root logger at this test's stderr:
    put it back afterwards, or a later test's log line goes to a closed stream."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
