"""Load modules of the repo's packaging/ folder, which is not a Python package (and whose
name would clash with the PyPI ``packaging`` distribution if it were imported as one)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"


def load(name: str) -> ModuleType:
    """packaging/<name>.py as a module (loaded once)."""
    key = f"_workstation_packaging_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no packaging/__pycache__
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module
