"""The project stands on its own: every document its code and docs cite is in the
repository, and none of them points outside it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from alex_db.testing.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"\bdocs/[\w.-]+\.md\b")


def sources() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "bench" / "README.md"]
    for folder in ("alex_db", "tests", "docs", "bench"):
        found += sorted((ROOT / folder).rglob("*.py")) + sorted((ROOT / folder).rglob("*.md"))
    return [p for p in found if p.is_file() and p != Path(__file__)]


def test_every_cited_document_is_in_the_repository() -> None:
    cited: dict[str, list[str]] = {}
    for path in sources():
        for name in CITED.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert "docs/data-api.md" in cited
    assert "docs/migrating-from-src.md" in cited
    missing = {name: where for name, where in cited.items() if not (ROOT / name).is_file()}
    assert missing == {}


def test_nothing_points_outside_the_repository() -> None:
    outside = re.compile(r"\.\./shared|data-api-contract|legacy-api\.md|contract §")
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources()
        if outside.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_readme_lists_each_repositorys_methods_as_they_are() -> None:
    """The README's table of repositories and their methods is the code's."""
    from alex_db.database import Database

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\s*\| `db\.(\w+)` \| (.+) \|$", readme, flags=re.MULTILINE))
    actual = {}
    for name, prop in vars(Database).items():
        repository = getattr(getattr(prop, "func", None), "__annotations__", {}).get("return")
        if isinstance(repository, str) and repository.endswith("Repository"):
            cls = getattr(__import__("alex_db.repositories", fromlist=[repository]), repository)
            actual[name] = {
                m for m, v in vars(cls).items() if callable(v) and not m.startswith("_")
            }
    assert set(table) == set(actual)
    for name, methods in actual.items():
        assert set(re.findall(r"`(\w+)`", table[name])) == methods, name


def test_the_readmes_fastapi_example_runs(tmp_path: Path, alex_db_server: PostgresServer) -> None:
    """The "Testing your service" example, as written, passes as a service's own test."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Testing your service") :]
    start = section.index("```python\n") + len("```python\n")
    block = section[start : section.index("\n```", start)]
    app_source, test_source = block.split("# test_app.py\n")
    (tmp_path / "app.py").write_text(app_source, encoding="utf-8")
    (tmp_path / "test_app.py").write_text(test_source, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALEX_DB", "DATABASE_URL"))}
    url = alex_db_server.url.render_as_string(hide_password=False)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**clean, "ALEX_DB_TEST_URL": url, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
