"""The array libraries the batched evaluators run on, as pytest parameters.

A test that compares a backend against torch or jax marks itself ``needs_torch`` or ``needs_jax``
(the reference needs the library whatever the backend under test); a test parametrised over
``BACKENDS`` runs numpy everywhere and torch and jax where they are installed. The skip reasons
say "is not installed", so under CI=true such a skip fails the run (tests/conftest.py).
"""

from __future__ import annotations

import importlib.util

import pytest

__all__ = ["BACKENDS", "JAX", "NUMPY", "TORCH", "installed", "needs_jax", "needs_torch"]


def installed(name: str) -> bool:
    """Whether the library can be imported here (without importing it)."""
    return importlib.util.find_spec(name) is not None


needs_torch = pytest.mark.skipif(not installed("torch"), reason="torch is not installed")
needs_jax = pytest.mark.skipif(not installed("jax"), reason="jax is not installed")

NUMPY = pytest.param("numpy", id="numpy")
TORCH = pytest.param("torch", marks=needs_torch, id="torch")
JAX = pytest.param("jax", marks=needs_jax, id="jax")

#: Every backend of the batched evaluators that a machine of this project can have (cupy needs a
#: GPU, which none has).
BACKENDS = [NUMPY, TORCH, JAX]
