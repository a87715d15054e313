"""SQLAlchemy's dialect conformance suite and Alembic's migration suite pass, on the
``postgresql+psycopg`` baseline and on ``postgresql+alexdataapi`` through the project's
Data API emulator. The runs themselves are in dialect_suites.py: they start in the
background when collection selects these tests (tests/conftest.py), and each test waits
for its run.
"""

from __future__ import annotations

import re

import pytest

from tests.dialect_suites import MINIMUM_PASSED, RUN_TIMEOUT_S, RUNS, background

_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


@pytest.mark.parametrize(("suite", "target"), RUNS)
def test_the_dialect_suite_passes(suite: str, target: str) -> None:
    runs = background()
    assert runs is not None, "collection did not start the runs"
    outcome = runs.outcomes[(suite, target)]
    assert outcome.done.wait(timeout=RUN_TIMEOUT_S * len(RUNS)), "the run did not finish"
    lines = outcome.stdout.strip().splitlines()
    summary = lines[-1] if lines else ""
    counts = {kind.rstrip("s"): int(n) for n, kind in _COUNTS.findall(summary)}
    print(f"{suite} on {target}: {summary}")
    failures = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    assert outcome.returncode == 0, "\n".join(failures[:50]) or (
        outcome.stdout[-5000:] + outcome.stderr[-5000:]
    )
    assert counts.get("passed", 0) >= MINIMUM_PASSED[(suite, target)], summary
