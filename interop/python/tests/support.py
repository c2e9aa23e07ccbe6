"""Shared set-up for the tests: makes interop/python importable and locates proto/."""

import sys
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parent.parent
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

PROTO_DIR = PYTHON_DIR.parent.parent / "proto"
VECTORS_FILE = PROTO_DIR / "vectors.txt"
STATS_FILE = PROTO_DIR / "stats.txt"
ERRORS_FILE = PROTO_DIR / "errors.txt"


def test_name(case_name: str) -> str:
    """A method name for a generated test of proto case ``case_name``."""
    return "test_" + "".join(ch if ch.isalnum() else "_" for ch in case_name)
