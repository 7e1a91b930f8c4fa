"""Shared fixtures. GUI tests run offscreen; torch uses one thread so tests are repeatable."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
MUSDB_EXCERPTS = SHARED / "data" / "musdb18hq-excerpts"


@pytest.fixture(scope="session")
def musdb_excerpts() -> Path:
    """The three real MUSDB18-HQ excerpts in ../shared (skips when absent)."""
    if not (MUSDB_EXCERPTS / "test").is_dir():
        pytest.skip(f"shared excerpts not found at {MUSDB_EXCERPTS}")
    return MUSDB_EXCERPTS
