"""Install-or-skip for the Debian tools the interop tests check against."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[4] / "scripts" / "install-interop-tools.sh"


def require_tool(package: str, binary: str) -> str:
    """The path of `binary`, installing `package` with the project script when missing."""
    found = shutil.which(binary)
    if found is None and SCRIPT.exists():
        proc = subprocess.run(
            ["bash", str(SCRIPT), package], capture_output=True, text=True, timeout=900, check=False
        )
        found = shutil.which(binary)
        reason = proc.stderr.strip()
    else:
        reason = f"{SCRIPT} is missing"
    if found is None:
        pytest.skip(
            f"{binary} (Debian package {package}) is not installed and could not be "
            f"installed: {reason}"
        )
    return found


def run_install_script(package: str) -> str:
    """Run the project's install script for `package` (it installs only what is missing)."""
    if not SCRIPT.exists():
        return f"{SCRIPT} is missing"
    proc = subprocess.run(
        ["bash", str(SCRIPT), package], capture_output=True, text=True, timeout=900, check=False
    )
    return proc.stderr.strip()
