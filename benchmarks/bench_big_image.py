"""Peak memory of scanning one huge but small file: an 8900x8900 PNG of a few hundred KB,
inside the default limits (issue 18's finding: 2.6 GB; target: any accepted image ≤ 1 GB).

    python benchmarks/bench_big_image.py

Each scan runs in a child process (its peak resident memory is the figure): once with
every default analyzer, then with each alone, so the share of decoding, the watermark
check and each analyzer shows; then the same size as RGBA and as 16-bit greyscale, the
modes whose conversion to 8-bit RGB costs the most.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

SIDE = 8900
CHILD = """
import resource, sys
from fakescope.config import ProvenanceSettings, ScanSettings
from fakescope.scan.scanner import Scanner
names = sys.argv[2].split(",") if sys.argv[2] != "all" else None
r = Scanner(ScanSettings(analyzers=names, provenance=ProvenanceSettings(registry=None))).scan(sys.argv[1])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, r.verdict)
"""


def main() -> None:
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.png"
        grid = np.zeros((SIDE, SIDE, 3), np.uint8)
        grid[::64, :], grid[:, ::64] = 255, 128
        Image.fromarray(grid).save(path, optimize=True)
        del grid
        print(f"{SIDE}x{SIDE} PNG, {path.stat().st_size // 1024} KB")
        for names in ("all", "metadata", "face-forgery", "generated"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), names], capture_output=True,
                                 text=True, check=True).stdout.split()
            print(f"  analyzers {names:13s} peak {int(out[0]):5d} MB  verdict {out[1]}")
        for mode in ("RGBA", "I;16"):
            other = Path(tmp) / f"big-{mode.replace(';', '')}.png"
            if mode == "RGBA":
                px = np.zeros((SIDE, SIDE, 4), np.uint8)
                px[::64, :, :3], px[..., 3] = 255, 255
            else:
                px = np.zeros((SIDE, SIDE), np.uint16)
                px[::64, :] = 60000
            Image.fromarray(px).save(other, optimize=True)
            del px
            out = subprocess.run([sys.executable, "-c", CHILD, str(other), "all"], capture_output=True,
                                 text=True, check=True).stdout.split()
            print(f"  {mode:5s} PNG, every analyzer  peak {int(out[0]):5d} MB  verdict {out[1]}")


if __name__ == "__main__":
    main()
