"""Do the statistics a video scan measures anyway (blinking, head movement, mouth against
eyes, lips against speech) tell a person's other recordings from clips that are not them
moving, so that a scan can say "unlike the enrolled references in …" (issue 31, item 3)?

    python research/people_behaviour_study.py --mead ../shared/data/video/dev/dreamtalk \\
        --cache runs/people-behaviour.npz

MEAD's three people (M030, W009, W011), eight recordings each (one per emotion), scanned
by fakescope (the statistics of ``people.behaviour.FEATURES``); beside them, per person, a
*still slide*: the first frame of their neutral clip moved and zoomed for 6 s (a photo of
them animated, as a cheap fake is), and DreamTalk's four talking heads driven in M030's
style (``out_*M030*``: another face, M030's style clip).

The spread one person shows between recordings (``WITHIN_SD``) is the pooled standard
deviation of each statistic within each person, printed per person; the rule is judged
leave-one-person-out (the spread from the other two people): every recording of a person
against their other seven (how often a real recording is called unlike: false alarms);
each slide and talking head against the person's eight (how often it is called unlike).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np


def slide(first: np.ndarray, path: Path, seconds: float = 6.0, fps: int = 25) -> Path:
    import av
    import cv2

    h, w = first.shape[:2]
    w, h = w - w % 2, h - h % 2
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        for k in range(int(seconds * fps)):
            t = k / (seconds * fps)
            z = 1.0 + 0.08 * t
            m = cv2.getRotationMatrix2D((w / 2 + 20 * np.sin(2 * np.pi * t), h / 2), 2 * np.sin(np.pi * t), z)
            frame = cv2.warpAffine(first[:h, :w], m, (w, h), borderMode=cv2.BORDER_REFLECT)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mead", type=Path, default=Path("../shared/data/video/dev/dreamtalk"))
    ap.add_argument("--cache", type=Path, default=Path("runs/people-behaviour.npz"))
    args = ap.parse_args()
    from fakescope.people.behaviour import FEATURES, LOG, WITHIN_SD, _scaled, of_report, unlike
    from fakescope.progress import progress_iter

    people = ("M030", "W009", "W011")
    if args.cache.is_file():
        z = np.load(args.cache, allow_pickle=True)
        stats, who, kind = z["stats"], list(z["who"]), list(z["kind"])
    else:
        import av

        from fakescope.scan.scanner import Scanner

        scanner = Scanner()
        jobs: list[tuple[Path, str, str]] = []
        for p in people:
            jobs += [(c, p, "real") for c in sorted(args.mead.glob(f"{p}_front_*_001.mp4"))]
        work = args.cache.parent / "people-behaviour-slides"
        work.mkdir(parents=True, exist_ok=True)
        for p in people:
            with av.open(str(args.mead / f"{p}_front_neutral_level1_001.mp4")) as c:
                first = next(c.decode(video=0)).to_ndarray(format="rgb24")
            jobs.append((slide(first, work / f"{p}_slide.mp4"), p, "slide"))
        jobs += [(c, "M030", "talking head") for c in sorted(args.mead.glob("out_*M030*.mp4"))]
        rows = [of_report(scanner.scan(path)) for path, _, _ in progress_iter(jobs, "scanning")]
        stats, who, kind = np.stack(rows), [j[1] for j in jobs], [j[2] for j in jobs]
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.cache, stats=stats, who=np.array(who), kind=np.array(kind))

    who_a, kind_a = np.array(who), np.array(kind)
    names = [f"{a}.{k}" for a, k, _, _ in FEATURES]
    scaled = _scaled(stats)
    print(f"{'within-person SD':28s} " + " ".join(f"{p:>8s}" for p in people) + f" {'pooled':>8s}"
          + f" {'shipped':>8s}  (log for {', '.join(n for n, lg in zip(names, LOG, strict=True) if lg)})")
    sd = {}
    for p in people:
        rows = scaled[(who_a == p) & (kind_a == "real")]
        sd[p] = np.array([float(np.std(c[np.isfinite(c)], ddof=1)) if np.isfinite(c).sum() > 2 else np.nan
                          for c in rows.T])
    for i, name in enumerate(names):
        per = [sd[p][i] for p in people]
        pooled = float(np.sqrt(np.nanmean(np.square(per)))) if np.isfinite(per).any() else float("nan")
        print(f"{name:28s} " + " ".join(f"{v:8.3f}" for v in per) + f" {pooled:8.3f} {WITHIN_SD[i]:8.3f}")

    def held_sd(p: str) -> np.ndarray:
        """The spread of the other two people: the person judged never sets it."""
        rows = np.stack([sd[q] for q in people if q != p])
        out = np.full(rows.shape[1], np.nan)
        for i in range(rows.shape[1]):
            c = rows[:, i][np.isfinite(rows[:, i])]
            out[i] = float(np.sqrt(np.mean(np.square(c)))) if len(c) else WITHIN_SD[i]
        return out

    print(f"{'enrolled recordings':22s} {'real called unlike':>20s} {'slides':>8s} {'talking heads':>14s}")
    for n_refs in (1, 2, 3, 7):
        real_hits = real_n = 0
        other = {"slide": [0, 0], "talking head": [0, 0]}
        for p in people:
            within = held_sd(p)
            own = list(np.flatnonzero((who_a == p) & (kind_a == "real")))
            for j in own:  # every recording against every choice of n of the others
                rest = [k for k in own if k != j]
                for refs in itertools.combinations(rest, n_refs):
                    real_hits += bool(unlike(stats[j], list(stats[list(refs)]), within))
                    real_n += 1
            for j in np.flatnonzero((who_a == p) & (kind_a != "real")):
                for refs in itertools.combinations(own, n_refs):
                    other[kind[j]][0] += bool(unlike(stats[j], list(stats[list(refs)]), within))
                    other[kind[j]][1] += 1
        slides, heads = other["slide"], other["talking head"]
        print(f"{n_refs:22d} {real_hits:>9d}/{real_n:<5d} ({real_hits / real_n:5.1%}) "
              f"{slides[0]:>4d}/{slides[1]:<4d} {heads[0]:>6d}/{heads[1]:<6d}")


if __name__ == "__main__":
    main()
