"""The top-level folders import each other in one direction only.

schemas ← ml ← infra ← streams ← agents / api ← cli: a folder imports only folders to
its left, so the model core and the records stay free of infrastructure, and nothing
that speaks Kafka reaches up into the agents, the API or the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each folder and the folders it may import.
ALLOWED = {
    "schemas": set(),
    "ml": {"schemas"},
    "infra": {"schemas", "ml"},
    "streams": {"schemas", "ml", "infra"},
    "agents": {"schemas", "ml", "infra", "streams"},
    "api": {"schemas", "ml", "infra", "streams"},
    "cli": {"schemas", "ml", "infra", "streams", "agents", "api"},
    "bench": {"schemas", "ml", "infra", "streams", "agents", "api", "cli"},
}


def imported_folders(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found & set(ALLOWED)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_a_folder_imports_only_the_folders_below_it(folder: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_folders(path) - ALLOWED[folder] - {folder})
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    assert {path: folders for path, folders in wrong.items() if folders} == {}
