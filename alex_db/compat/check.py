"""``alex-db check-code PATH``: the old API calls left in a service's sources.

It reads Python files (it never imports them) and reports, per finding, the file, the
line, the old call and its replacement. What counts as old:

* an import of the old package (``src``, ``database.src``) or of ``alex_db.compat``;
* in a file that imports one of those, every call of an old model method
  (``db.jobs.update_status(...)``) and of the old client;
* anywhere, the calls only the old API has: ``db.client.<method>``,
  ``<model>.db.<method>``, ``execute_raw``, ``query_raw``, ``get_portfolio_value``.

A new-API call that shares an old name (``db.users.find_by_clerk_id``) is reported only
in files still on the old imports, where it is the old call.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

OLD_PACKAGES = ("src", "database.src", "alex_db.compat")
MODELS = ("users", "instruments", "accounts", "positions", "jobs")

# old call -> what replaces it (docs/migrating-from-src.md has the differences)
MODEL_CALLS: dict[str, str] = {
    "users.find_by_clerk_id": "db.users.find_by_clerk_id(clerk_user_id) -> UserRead | None",
    "users.create_user": "db.users.create_user(UserCreate(...)) -> UserRead",
    "instruments.find_all": "db.instruments.find_all() -> list[InstrumentRead]",
    "instruments.find_by_symbol": "db.instruments.find_by_symbol(symbol) -> InstrumentRead | None",
    "instruments.create_instrument": "db.instruments.create_instrument(InstrumentCreate)",
    "instruments.find_by_type": "db.instruments.find_by_type(instrument_type)",
    "instruments.search": "db.instruments.search(text, limit=20)",
    "accounts.find_by_user": "db.accounts.find_by_user(clerk_user_id) (ordered by name)",
    "accounts.create_account": "db.accounts.create_account(clerk_user_id, AccountCreate(...))",
    "positions.find_by_account": "db.positions.find_by_account(account_id)",
    "positions.get_portfolio_value": "db.portfolio.load(clerk_user_id)",
    "positions.add_position": "db.positions.add_position(account_id, symbol, quantity)",
    "jobs.create_job": "db.jobs.create_job(JobCreate(...)) -> JobRead",
    "jobs.update_status": "db.jobs.start(id) / complete(id) / fail(id, message)",
    "jobs.update_report": "db.jobs.update_report(id, payload) -> JobRead",
    "jobs.update_charts": "db.jobs.update_charts(id, payload) -> JobRead",
    "jobs.update_retirement": "db.jobs.update_retirement(id, payload) -> JobRead",
    "jobs.update_summary": "db.jobs.update_summary(id, payload) -> JobRead",
    "jobs.find_by_user": "db.jobs.find_by_user(clerk_user_id, status, limit)",
}
GENERIC_CALLS: dict[str, str] = {
    "find_by_id": "db.<repository>.find_by_id(id) (users: find_by_clerk_id; instruments: "
    "find_by_symbol)",
    "find_all": "a repository's find_by_... call (jobs: find_by_user)",
    "create": "the repository's create_...(Create schema)",
    "update": "db.<repository>.update(key, ...Update(...))",
    "delete": "db.<repository>.delete(key)",
}
CLIENT_CALLS: dict[str, str] = {
    "execute": "tx.session.execute(text(sql), {...}) inside db.transaction()",
    "query": "tx.session.execute(text(sql), {...}).mappings().all()",
    "query_one": "tx.session.execute(text(sql), {...}).mappings().first()",
    "insert": "the repository's create_...(Create schema)",
    "update": "the repository's update(key, ...Update(...)), or update_prices",
    "delete": "the repository's delete(key)",
    "begin_transaction": "with db.transaction() as tx:",
    "commit_transaction": "the end of the db.transaction() block",
    "rollback_transaction": "an exception out of the db.transaction() block",
}
DATABASE_CALLS: dict[str, str] = {
    "execute_raw": "tx.session.execute(text(sql), {...}) inside db.transaction()",
    "query_raw": "tx.session.execute(text(sql), {...}).mappings().all()",
}
UNAMBIGUOUS_MODEL_CALLS = frozenset({"positions.get_portfolio_value"})


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    line: int
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.old} -> {self.new}"


def _chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None when the chain does not start at a name."""
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(names)]
    if isinstance(node, ast.Call):  # Database().jobs...
        inner = _chain(node.func)
        return None if inner is None else [*inner, *reversed(names)]
    return None


def _is_old_module(name: str | None) -> bool:
    if not name:
        return False
    return any(name == p or name.startswith(p + ".") for p in OLD_PACKAGES)


def _imports(tree: ast.Module, path: str) -> Iterator[Finding]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _is_old_module(node.module):
            names = ", ".join(a.name for a in node.names)
            yield Finding(
                path,
                node.lineno,
                f"from {node.module} import {names}",
                "from alex_db import Database (schemas from alex_db.schemas)",
            )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_old_module(alias.name):
                    yield Finding(path, node.lineno, f"import {alias.name}", "import alex_db")


def _call(chain: list[str], *, old_imports: bool) -> tuple[str, str] | None:
    """(old call, replacement) for a call chain, or None if it is not an old call."""
    *_, last = chain
    if last in DATABASE_CALLS and len(chain) >= 2:
        return f"{'.'.join(chain)}()", DATABASE_CALLS[last]
    if len(chain) >= 3 and chain[-2] == "client" and last in CLIENT_CALLS:
        return f"{'.'.join(chain)}()", CLIENT_CALLS[last]
    if len(chain) >= 4 and chain[-2] == "db" and chain[-3] in MODELS and last in CLIENT_CALLS:
        return f"{'.'.join(chain)}()", CLIENT_CALLS[last]
    if len(chain) >= 3 and chain[-2] in MODELS:
        key = f"{chain[-2]}.{last}"
        if key in MODEL_CALLS and (old_imports or key in UNAMBIGUOUS_MODEL_CALLS):
            return f"{'.'.join(chain)}()", MODEL_CALLS[key]
        if old_imports and last in GENERIC_CALLS:
            return f"{'.'.join(chain)}()", GENERIC_CALLS[last]
    return None


def check_source(source: str, path: str) -> list[Finding]:
    """The old API uses in one file's source (a syntax error is reported as a finding:
    the file could not be checked)."""
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 0, "unparsable Python", f"fix the syntax ({exc.msg})")]
    findings = list(_imports(tree, path))
    old_imports = bool(findings)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (chain := _chain(node.func)) is not None:
            found = _call(chain, old_imports=old_imports)
            if found is not None:
                findings.append(Finding(path, node.lineno, *found))
    return sorted(findings)


def python_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*.py") if not any(part.startswith(".") for part in p.parts)
            )
        else:
            yield path


def check_paths(paths: Iterable[Path]) -> list[Finding]:
    findings: list[Finding] = []
    for file in python_files(paths):
        findings.extend(check_source(file.read_text(encoding="utf-8", errors="replace"), str(file)))
    return findings
