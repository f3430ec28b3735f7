"""scripts/buf-lint.sh: buf's STANDARD lint rules on the proto contracts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "buf-lint.sh"

pytestmark = pytest.mark.skipif(
    not (REPO / "conformance" / "node_modules" / ".bin" / "buf").exists(),
    reason="buf is not installed (scripts/bootstrap.sh installs it)",
)


def _lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_contracts_pass_buf_lint() -> None:
    done = _lint()
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_lint_failure_fails_the_script(tmp_path: Path) -> None:
    proto = tmp_path / "proto"
    shutil.copytree(REPO / "proto", proto)
    common = proto / "mirai" / "v1" / "common.proto"
    common.write_text(
        common.read_text(encoding="utf-8") + "\nmessage plan_price {\n  int64 Cents = 1;\n}\n",
        encoding="utf-8",
    )
    done = _lint(str(proto))
    assert done.returncode != 0
    assert 'Message name "plan_price" should be PascalCase' in done.stdout
