"""SQL statements kept as ``.sql`` files, one statement per file, grouped by area (``warehouse/sql/<area>/<name>.sql``)
and loaded by name: ``load("rules/roster")``.

Statements use bind parameters (``:period``, ``:end``) for values; the few that differ by dialect or by a
configured identifier use ``{placeholders}`` filled by :func:`render` from a fixed set the caller names, never from
data. :func:`fingerprint` hashes the files an asset uses, for its ``code_version``: changing a rule's SQL changes the
version of exactly the assets that run it.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def path_of(name: str) -> Path:
    path = (ROOT / f"{name}.sql").resolve()
    if ROOT not in path.parents:
        raise ValueError(f"not a SQL file name: {name!r}")
    return path


@functools.cache
def load(name: str) -> str:
    """The statement in ``warehouse/sql/<name>.sql``: without its header comment (the leading ``--`` lines that say
    what it computes and document its bind parameters and parts) and without a trailing semicolon."""
    lines = path_of(name).read_text(encoding="utf-8").strip().splitlines()
    while lines and lines[0].lstrip().startswith("--"):
        lines.pop(0)
    return "\n".join(lines).strip().rstrip(";").strip()


def render(name: str, **parts: str) -> str:
    """``load(name)`` with ``{placeholder}`` parts filled (identifiers or SQL fragments chosen by code, not data)."""
    return load(name).format(**parts)


def fingerprint(*names: str) -> str:
    """A short hash of the named SQL files, for an asset's ``code_version``."""
    digest = hashlib.sha256()
    for name in sorted(set(names)):
        digest.update(name.encode())
        digest.update(load(name).encode())
    return digest.hexdigest()[:12]
