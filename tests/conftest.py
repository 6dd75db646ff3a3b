"""Shared fixtures and the hypothesis profile of the test suite."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import symbackprop as sb

# Reproducible property tests: the same examples on every run and every machine, no deadline
# (deriving a deep net takes a while on a small CI box; speed is not what these tests judge).
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    max_examples=25,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: Seed 000's numbers: inputs, label and the six initial weights of its 2-2-1 network.
SEED000_VALUES = dict(x1=0.5, x2=0.3, y=1.0, w1=0.7, w2=0.3, w3=0.4, w4=0.6, w5=0.55, w6=0.45)


@pytest.fixture
def seed000_values() -> dict[str, float]:
    """A fresh copy of seed 000's values (tests may change it freely)."""
    return dict(SEED000_VALUES)


@pytest.fixture(scope="session")
def seed000_net() -> sb.MLP:
    """Seed 000's network: 2-2-1, sigmoid everywhere, MSE, no biases, sequential names."""
    return sb.mlp([2, 2, 1], activation="sigmoid", loss="mse", bias=False, notation="sequential")


@pytest.fixture(scope="session")
def seed000_derivation(seed000_net) -> sb.Derivation:
    return sb.derive(seed000_net)


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium under Playwright, launched once per session (tests/browser.py).

    Skipped, in one line saying what is not installed, when the browser or its driver is missing.
    """
    import browser

    why = browser.missing()
    if why:
        pytest.skip(why)
    with browser.Chromium() as launched:
        yield launched


# Under CI=true a test skipped because a tool is missing (torch, jax, scipy, TeX, …) fails the
# run: CI installs every tool the tests use (.ci/run), so such a skip means an install step is
# missing. cupy is the exception: it needs a GPU, which no machine of this project has.
_MISSING_TOOL = ("not installed", "could not import", "No module named", "needs pdflatex",
                 "needs TeX", "TeX is not", "pdftoppm", "pdftotext", "latexmk")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") != "true" or not report.skipped or not isinstance(report.longrepr,
                                                                                tuple):
        return
    reason = str(report.longrepr[2])
    if any(m in reason for m in _MISSING_TOOL) and "cupy" not in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true: skipped for a missing tool, which .ci/run must install: {reason}"
