"""What the XState corpus tests share: where the corpus and its Node runner are, whether real
XState can run here, and the walks' seed and sizes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "data" / "xstate"
RUNNER = ROOT / "conformance" / "xstate_corpus.mjs"
NODE = shutil.which("node")
HAS_XSTATE = (ROOT / "conformance" / "node_modules" / "xstate" / "package.json").is_file()

needs_xstate = pytest.mark.skipif(
    not HAS_XSTATE or NODE is None,
    reason="conformance/node_modules is missing: run `cd conformance && npm ci` "
    "(scripts/bootstrap.sh does it)",
)

NAMES = sorted(p.stem for p in CORPUS.glob("*.json"))
SEED = 13
WALKS = 20
STEPS = 30
LONG_WALKS = 200
LONG_STEPS = 60
