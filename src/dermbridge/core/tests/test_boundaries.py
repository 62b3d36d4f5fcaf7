"""Boundaries the import-linter contract cannot express (docs/adr/0010-boundaries.md): reads are
audited in services, so no page or API module writes to the audit trail itself."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2]  # src/dermbridge


def _presentation_modules() -> list[Path]:
    """The web pages, every app's views and API modules, and the API framework's views."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if "tests" in rel.parts or "migrations" in rel.parts:
            continue
        name = rel.stem
        if (
            rel.parts[0] == "web"
            or name in {"views", "api", "api_actions", "letter_views"}
            or (rel.parts[0] == "api" and name != "errors")
        ):
            found.append(path)
    return found


def test_no_view_or_api_module_writes_the_audit_trail() -> None:
    """GIVEN every page and API module WHEN its imports are read THEN none imports
    `audit.services.record` (nor the module to call it): each read goes through the service
    that audits it, and a refusal through `audit.services.record_denial` (issue #11, item 5)."""
    offenders = []
    modules = _presentation_modules()
    assert len(modules) > 20, "the presentation modules were not found"
    for path in modules:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            names = {alias.name for alias in node.names}
            if (node.module, "record") in {("dermbridge.audit.services", n) for n in names} or (
                node.module == "dermbridge.audit" and "services" in names
            ):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []
