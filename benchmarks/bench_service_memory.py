"""Peak memory of the service under issue 18's abuse: one huge-but-small picture (an
8900x8900 PNG of a few hundred KB, inside the limits) uploaded and scanned, then 4
`report.html` and 4 `/image` requests for it at once (target: ≤ 1.5 GB).

    python benchmarks/bench_service_memory.py

Starts `fakescope serve` on a temporary data folder (keys off, one worker) and reads its
peak resident memory (VmHWM, Linux) after the scan and after the renders.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SIDE = 8900
PORT = 18766


def peak_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) // 1024
    raise RuntimeError("no VmHWM (Linux only)")


def main() -> None:
    import httpx
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.png"
        grid = np.zeros((SIDE, SIDE, 3), np.uint8)
        grid[::64, :], grid[:, ::64] = 255, 128
        Image.fromarray(grid).save(big, optimize=True)
        del grid
        exe = Path(sys.executable).with_name("fakescope")
        server = subprocess.Popen([str(exe), "serve", "--data-dir", str(Path(tmp) / "data"),
                                   "--port", str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{PORT}"
        try:
            for _ in range(120):
                try:
                    httpx.get(base + "/healthz", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            idle = peak_mb(server.pid)
            with httpx.Client(timeout=600) as c:
                sid = c.post(base + "/v1/scans", files={"file": ("big.png", big.read_bytes(), "image/png")}
                             ).json()["id"]
                while c.get(f"{base}/v1/scans/{sid}").json()["status"] not in ("done", "failed"):
                    time.sleep(0.5)
            scanned = peak_mb(server.pid)
            codes: list[int] = []
            paths = [f"/v1/scans/{sid}/report.html", f"/v1/scans/{sid}/image"] * 4
            threads = [threading.Thread(target=lambda p=p: codes.append(
                httpx.get(base + p, timeout=600).status_code)) for p in paths]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(f"{SIDE}x{SIDE} PNG, {big.stat().st_size // 1024} KB")
            print(f"  service idle        peak {idle:5d} MB")
            print(f"  after the scan      peak {scanned:5d} MB")
            print(f"  after 4 report.html + 4 /image at once ({time.perf_counter() - t0:.1f} s, "
                  f"answers {sorted(codes)}): peak {peak_mb(server.pid):5d} MB  (target 1536 MB)")
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()
