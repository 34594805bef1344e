"""Service load and reliability: concurrent clients uploading photos to one `fakescope serve`.

    python benchmarks/bench_service.py [--clients 20] [--duration 60] [--workers 1] [--kill]
                                       [--database-url URL] [--out benchmarks/results/service.json]

Starts a server on a free loopback port (SQLite and a blob folder in a temporary
directory unless --database-url is given), then N clients each upload a generated 512x512
photo, poll it until its report is final, and upload the next, for --duration seconds.
Every accepted id must reach a final state (nothing lost); any other answer than 202, 200
or the final report is an error. Prints API latency (p50/p95 over every request), upload
latency, end-to-end scan time, scans per minute, errors and lost jobs.

--kill: SIGKILLs the server half-way through the load, restarts it on the same storage and
checks that every job accepted before the kill still completes (requests that fail while
the server is down are counted as `unavailable`, not errors: nothing was accepted).
Traffic goes to 127.0.0.1 only, and every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def make_photos(n: int) -> list[bytes]:
    """Distinct 512x512 JPEGs of the astronaut portrait: shifted, flipped, re-encoded."""
    from fakescope.demo import astronaut

    base = astronaut()
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        img = np.roll(base, int(rng.integers(-60, 60)), axis=1)
        if i % 2:
            img = img[:, ::-1]
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img)).save(buf, format="JPEG", quality=int(rng.integers(80, 96)))
        out.append(buf.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data: Path, port: int, workers: int, database_url: str | None) -> None:
        self.data, self.port, self.workers, self.database_url = data, port, workers, database_url
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = open(data.parent / "server.log", "ab")  # noqa: SIM115

    def start(self, timeout: float = 240.0) -> float:
        cmd = [sys.executable, "-m", "fakescope.cli", "serve", "--data-dir", str(self.data),
               "--port", str(self.port), "--auth", "off", "--rate-per-min", "1000000",
               "--workers", str(self.workers), "--log-level", "warning"]
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "FAKESCOPE_CONFIG": ""})
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready in time")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    api_ms: list[float] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    e2e_s: list[float] = field(default_factory=list)
    accepted: dict[str, float] = field(default_factory=dict)  # id -> accepted at (monotonic)
    final: dict[str, str] = field(default_factory=dict)  # id -> done / failed
    errors: list[str] = field(default_factory=list)
    unavailable: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)


def client_loop(k: int, base: str, photos: list[bytes], stop_uploading: threading.Event, hard_stop: float,
                stats: Stats, server_down: threading.Event) -> None:
    rng = np.random.default_rng(k)
    with httpx.Client(base_url=base, timeout=60) as http:
        while not stop_uploading.is_set() and time.monotonic() < hard_stop:
            data = photos[int(rng.integers(len(photos)))]
            t0 = time.perf_counter()
            try:
                r = http.post("/v1/scans", files={"file": (f"client{k}.jpg", data, "image/jpeg")})
            except httpx.HTTPError as exc:
                _unavailable(stats, server_down, f"upload: {type(exc).__name__}")
                continue
            ms = (time.perf_counter() - t0) * 1000
            if r.status_code != 202:
                with stats.lock:
                    stats.errors.append(f"upload answered {r.status_code}: {r.text[:200]}")
                continue
            scan_id = r.json()["id"]
            accepted_at = time.monotonic()
            with stats.lock:
                stats.api_ms.append(ms)
                stats.upload_ms.append(ms)
                stats.accepted[scan_id] = accepted_at
            while time.monotonic() < hard_stop:
                time.sleep(0.25)
                t0 = time.perf_counter()
                try:
                    g = http.get(f"/v1/scans/{scan_id}")
                except httpx.HTTPError as exc:
                    _unavailable(stats, server_down, f"poll: {type(exc).__name__}")
                    continue
                ms = (time.perf_counter() - t0) * 1000
                if g.status_code != 200:
                    with stats.lock:
                        stats.errors.append(f"poll answered {g.status_code}")
                    break
                body = g.json()
                with stats.lock:
                    stats.api_ms.append(ms)
                if body["status"] in ("done", "failed"):
                    with stats.lock:
                        stats.final[scan_id] = body["status"]
                        stats.e2e_s.append(time.monotonic() - accepted_at)
                        v = body["verdict"] or body["status"]
                        stats.verdicts[v] = stats.verdicts.get(v, 0) + 1
                    break


def _unavailable(stats: Stats, server_down: threading.Event, what: str) -> None:
    with stats.lock:
        if server_down.is_set():
            stats.unavailable += 1
        else:
            stats.errors.append(f"{what} while the server was up")
    time.sleep(0.5)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(values, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    ap.add_argument("--workers", type=int, default=1, help="the server's scan workers")
    ap.add_argument("--kill", action="store_true", help="SIGKILL and restart the server half-way")
    ap.add_argument("--database-url", help="default: SQLite in the temporary data folder")
    ap.add_argument("--drain-timeout", type=float, default=600.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    name = "service-kill.json" if args.kill else "service.json"
    out = args.out or Path(__file__).parent / "results" / name

    photos = make_photos(40)
    with tempfile.TemporaryDirectory(prefix="fakescope-bench-") as tmp:
        server = Server(Path(tmp) / "data", free_port(), args.workers, args.database_url)
        startup_s = server.start()
        print(f"server ready in {startup_s:.1f} s on {server.base} ({args.workers} worker(s)); "
              f"{args.clients} clients for {args.duration:.0f} s", file=sys.stderr)
        stats = Stats()
        stop_uploading, server_down = threading.Event(), threading.Event()
        t_start = time.monotonic()
        hard_stop = t_start + args.duration + args.drain_timeout
        threads = [threading.Thread(target=client_loop, daemon=True, args=(
                       k, server.base, photos, stop_uploading, hard_stop, stats, server_down))
                   for k in range(args.clients)]
        for t in threads:
            t.start()
        kill_info: dict[str, float | int] = {}
        try:
            if args.kill:
                time.sleep(args.duration / 2)
                with stats.lock:
                    before = set(stats.accepted)
                    done_before = len(stats.final)
                server_down.set()
                server.kill()
                t_kill = time.monotonic()
                restart_s = server.start()
                server_down.clear()
                kill_info = {"accepted_before_kill": len(before), "final_before_kill": done_before,
                             "downtime_s": round(time.monotonic() - t_kill, 2),
                             "restart_ready_s": round(restart_s, 2)}
                print(f"killed at {t_kill - t_start:.0f} s with {len(before)} accepted, "
                      f"{len(before) - done_before} unfinished; back after {kill_info['downtime_s']} s",
                      file=sys.stderr)
                time.sleep(max(0.0, t_start + args.duration - time.monotonic()))
            else:
                time.sleep(args.duration)
            stop_uploading.set()
            t_load_end = time.monotonic()
            for t in threads:
                t.join(max(0.0, hard_stop - time.monotonic()))
            t_drained = time.monotonic()

            # Nothing lost: ask the server about every accepted id, and about every id it holds.
            lost, failed = [], []
            with httpx.Client(base_url=server.base, timeout=30) as http:
                for scan_id in stats.accepted:
                    r = http.get(f"/v1/scans/{scan_id}")
                    status = r.json()["status"] if r.status_code == 200 else f"HTTP {r.status_code}"
                    if status == "failed":
                        failed.append(scan_id)
                    elif status != "done":
                        lost.append(f"{scan_id}: {status}")
                held, cursor = set(), None
                while True:
                    params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                    page = http.get("/v1/scans", params=params).json()
                    held |= {i["id"] for i in page["items"]}
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                metrics = http.get("/metrics").text
        finally:
            server.stop()

    completed = len(stats.final)
    elapsed = t_drained - t_start
    result = {
        "command": "python benchmarks/bench_service.py " + " ".join(sys.argv[1:]),
        "clients": args.clients, "duration_s": args.duration, "workers": args.workers,
        "database": "postgresql" if args.database_url else "sqlite",
        "kill_restart": args.kill, **({"kill": kill_info} if kill_info else {}),
        "requests": len(stats.api_ms),
        "api_latency_ms": {"p50": pct(stats.api_ms, 50), "p95": pct(stats.api_ms, 95),
                           "p99": pct(stats.api_ms, 99)},
        "upload_latency_ms": {"p50": pct(stats.upload_ms, 50), "p95": pct(stats.upload_ms, 95)},
        "scan_end_to_end_s": {"p50": pct(stats.e2e_s, 50), "p95": pct(stats.e2e_s, 95)},
        "accepted": len(stats.accepted), "completed": completed, "failed": len(failed),
        "lost": len(lost), "errors": len(stats.errors), "unavailable_while_down": stats.unavailable,
        "accepted_unacknowledged": len(held - set(stats.accepted)),
        "scans_per_min": round(completed / (elapsed / 60), 1) if elapsed > 0 else None,
        "load_s": round(t_load_end - t_start, 1), "drain_s": round(t_drained - t_load_end, 1),
        "verdicts": stats.verdicts,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.python_version()}",
        "startup_s": round(startup_s, 1),
        "metrics_scans_total": [ln for ln in metrics.splitlines() if ln.startswith("fakescope_scans_total")],
    }
    if stats.errors:
        result["first_errors"] = stats.errors[:10]
    if lost:
        result["lost_ids"] = lost[:20]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    lat = result["api_latency_ms"]
    print(f"{completed} scans in {elapsed:.0f} s = {result['scans_per_min']} scans/min; API latency p50 "
          f"{lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms over {len(stats.api_ms)} requests; upload p50 "
          f"{result['upload_latency_ms']['p50']:.1f} ms; scan end-to-end p50 "
          f"{statistics.median(stats.e2e_s) if stats.e2e_s else float('nan'):.2f} s")
    print(f"accepted {len(stats.accepted)}, completed {completed}, failed {len(failed)}, lost {len(lost)}, "
          f"errors {len(stats.errors)}"
          + (f", unavailable while down {stats.unavailable}" if args.kill else ""))
    print(f"wrote {out}")
    sys.exit(1 if lost or stats.errors or failed else 0)


if __name__ == "__main__":
    main()
