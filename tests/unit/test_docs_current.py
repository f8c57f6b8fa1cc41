"""docs/ stays true to the code: generated pages must equal what the code renders."""

from __future__ import annotations

from pathlib import Path

from workstation.core.config_docs import render

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_is_current() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert page == render(), (
        "docs/configuration.md is out of date: run "
        "'.venv/bin/python -m workstation.core.config_docs > docs/configuration.md'"
    )
