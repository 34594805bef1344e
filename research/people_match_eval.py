"""How well does enrolled-person matching work, face and voice, scored as the product scores it
(issue 31, "Protected people")?

    FAKESCOPE_FACE_ID_DIR=DIR python research/people_match_eval.py --data ../shared/data \\
        --video-corpus DATA/video-corpus --deepface MIRROR/serengil+deepface/repo \\
        --face-recognition MIRROR/ageitgey+face_recognition/repo --out runs/people-eval.json

Scores, as the product computes them: a person's enrolment is a set of unit vectors (one per
enrolled photo; one per usable sampled frame of an enrolled clip, from
``fakescope.people.enrolment.Enroller`` itself); a probe is a photo's largest face, or the
unit mean of the largest faces of a clip's 8 sampled frames, or a recording's voice vector;
the score is the largest cosine between the probe and the person's vectors. Faces are
accepted at ``face_id.SAME_PERSON_COSINE`` (0.363, OpenCV's published SFace threshold);
voices at VOICE_MATCH, the threshold at the EER on the LibriSpeech sample (the dev set of the
voice threshold; every other voice figure is on speakers not used to set it).

1. Face, photos of other sessions: deepface's tests/unit/dataset/master.csv pairs, and all
   pairs of face_recognition's single-person photos (near-copies of one photo left out).
2. Face, enrolment from one recording, probes from the person's other recordings: MEAD's
   M030, W009 and W011 (video/dev/dreamtalk, eight emotion takes each) and the people that
   several recordings of the footage show (``NAMED`` by file name, ``BY_EYE`` where the name
   does not say); each recording in turn is the enrolment. Impostors: every other real
   single-person clip of video/dev, video/gen2 and the video corpus, one per recording (the
   corpus holds several crops of one source file), capped by ``--max-impostor-clips``.
   Also: Obama and Biden enrolled from their photos, probed with their clips.
3. Generated talking heads scored against the enrolments of the person they are named after.
   DreamTalk's "M030" outputs name M030's clip as their speaking style only: their face is
   another portrait's, so they are the control that should not match.
4. Voice: LibriSpeech all pairs (sets VOICE_MATCH); cross-recording speakers (speech/vc's
   two bona fide speakers, LJSpeech's ground truth on the HiFi-GAN demo page) enrolled from
   one or three utterances; voice conversion and LJSpeech-trained TTS scored against the
   real voice they imitate.
5. Time per photo face template and per 5 s voice embedding on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import inspect
import itertools
import json
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fakescope.config import MediaLimits
from fakescope.evaluation.metrics import eer
from fakescope.media import AudioMedia, decode, read_file
from fakescope.media.image import decode_image
from fakescope.people.enrolment import AMBIGUOUS_SIZE, VIDEO_FRAMES, Enroller, EnrolMediaError
from fakescope.people.face_id import SAME_PERSON_COSINE, FaceIdentity, FaceTemplate
from fakescope.people.voice_id import SpeakerEncoder

FACE_THRESHOLD = SAME_PERSON_COSINE
MEAD_ID = re.compile(r"(?:^|/)([MW]\d{3})_front_")
MEAD_STYLE = re.compile(r"_([MW]\d{3})_front_")  # DreamTalk's outputs name the MEAD clip they took
# People that several real recordings of the footage show, by a name in the file or source
# path. "pose_ref_video": video/gen2's README says SyncTalk's and GeneFace's clips re-render
# that clip's footage (the same woman in all three, checked by eye).
NAMED: dict[str, re.Pattern[str]] = {
    "obama": re.compile(r"obama", re.I),
    "trump": re.compile(r"trump", re.I),
    "biden": re.compile(r"biden", re.I),
    "feifeili": re.compile(r"feifeili", re.I),
    "styletalk-andrew": re.compile(r"andrew_clip", re.I),
    "ravdess-actor08": re.compile(r"actor_08_", re.I),
    "ravdess-actor11": re.compile(r"actor_11_", re.I),
    "pose_ref_video": re.compile(r"aniportrait/pose_ref_video|synctalk/short_demo|geneface/zozo"),
}
# Recordings whose file names do not say who they show, found among the highest impostor
# scores of a first run and identified by eye (a frame of each looked at); without them the
# "impostors" include the same person filmed by another project.
BY_EYE: dict[str, str] = {
    "wyhsirius/LIA-X@6ec550a9c858d24908f99ba6ec23b8620f37e311:data/driving/driving4.mp4": "obama",
    "AliaksandrSiarohin/first-order-model@98c93991455b85128d5489cefd375a868222eb81:demo_old/00.mp4": "obama",
    "AliaksandrSiarohin/first-order-model@98c93991455b85128d5489cefd375a868222eb81:demo_old/04.mp4": "trump",
}
# face_recognition's photos of one person each (paths in its repository). Left out: its
# obama-240p/480p/720p/1080p (obama.jpg again, letterboxed), the partial-face test images and
# the photos of several people.
FR_PHOTOS: dict[str, list[str]] = {
    "obama": ["examples/obama.jpg", "examples/obama2.jpg", "tests/test_images/obama3.jpg",
              "examples/knn_examples/test/obama1.jpg", "examples/obama_small.jpg"],
    "biden": ["examples/biden.jpg", "examples/knn_examples/train/biden/biden2.jpg"],
    "alex_lacamoire": ["examples/alex-lacamoire.png", "examples/knn_examples/train/alex_lacamoire/img1.jpg",
                       "examples/knn_examples/test/alex_lacamoire1.jpg"],
    "rose_leslie": ["examples/knn_examples/train/rose_leslie/img1.jpg",
                    "examples/knn_examples/train/rose_leslie/img2.jpg"],
    "kit_harington": ["examples/knn_examples/train/kit_harington/john1.jpeg",
                      "examples/knn_examples/train/kit_harington/john2.jpeg",
                      "examples/knn_examples/test/johnsnow_test1.jpg"],
    "lin_manuel_miranda": ["examples/lin-manuel-miranda.png"],
}
NEAR_COPY = 0.95  # two photos this alike are one picture resized or re-encoded, not two sessions
VC_SPEAKERS = {"North": "Speeech_Speaker_1_Female_North_Indian",
               "South": "Speech_Speaker_3_Female_South_Indian"}
VC_TARGET = re.compile(r"^(North|South)_Indian_speaker_speech_in_(North|South)_Indian_speaker_voice$", re.I)
LJ_TTS = re.compile(r"LJSpeech|samples/(ss|e2e)/(?!GT)")  # LJSpeech voices made by TTS or a vocoder


# -- small helpers -----------------------------------------------------------------------------

def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-12)


def score(probe: np.ndarray, templates: np.ndarray) -> float:
    """The product's score: the best cosine over the person's enrolled vectors."""
    return float(np.max(templates @ probe))


def rates(gen: Iterable[float], imp: Iterable[float], threshold: float) -> dict[str, float | int | None]:
    g, i = np.asarray(list(gen), float), np.asarray(list(imp), float)
    out: dict[str, float | int | None] = {"genuine": len(g), "impostor": len(i),
                                          "threshold": round(threshold, 4)}
    out["eer"] = eer(np.r_[np.ones(len(g)), np.zeros(len(i))], np.r_[g, i]) if len(g) and len(i) else None
    out["fmr"] = float(np.mean(i >= threshold)) if len(i) else None
    out["fnmr"] = float(np.mean(g < threshold)) if len(g) else None
    out["genuine_min"] = float(g.min()) if len(g) else None
    out["genuine_median"] = float(np.median(g)) if len(g) else None
    out["genuine_max"] = float(g.max()) if len(g) else None
    out["impostor_median"] = float(np.median(i)) if len(i) else None
    out["impostor_max"] = float(i.max()) if len(i) else None
    return out


def eer_threshold(gen: np.ndarray, imp: np.ndarray) -> float:
    """The cosine where false matches and false non-matches balance: among the thresholds
    (scores and midpoints between them) whose worse error rate is smallest, the median, so a
    clean gap gives its middle rather than an edge."""
    s = np.unique(np.r_[gen, imp])
    t = np.r_[s, (s[:-1] + s[1:]) / 2]
    fmr = (imp[None, :] >= t[:, None]).mean(1)
    fnmr = (gen[None, :] < t[:, None]).mean(1)
    worst = np.maximum(fmr, fnmr)
    return float(np.median(t[np.isclose(worst, worst.min())]))


def fmt(x: object) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"
    return str(x)


def table(title: str, head: list[str], rows: list[list[object]]) -> None:
    cells = [head] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(head))]
    print(f"\n{title}")
    for n, r in enumerate(cells):
        padded = [c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("  " + "  ".join(padded))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


RATE_HEAD = ["", "people", "enrolments", "probes", "genuine", "impostor", "EER", "FMR@thr", "FNMR@thr",
             "gen min", "imp max"]


def rate_row(name: str, people: int | None, enrolments: int, probes: int, r: dict) -> list[object]:
    return [name, people, enrolments, probes, r["genuine"], r["impostor"], r["eer"], r["fmr"], r["fnmr"],
            r["genuine_min"], r["impostor_max"]]


def git_blob(repo: Path, path: str) -> bytes:
    return subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True,
                          check=True).stdout


def git_head(repo: Path) -> str:
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, check=True,
                          text=True).stdout.strip()


def read_labels(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# -- faces ------------------------------------------------------------------------------------

class PhotoFaces:
    """The largest face of each photo (None: no face), with the time each took."""

    def __init__(self, fi: FaceIdentity) -> None:
        self.fi = fi
        self.ms: list[float] = []

    def __call__(self, data: bytes) -> np.ndarray | None:
        t0 = time.perf_counter()
        rgb = decode_image(data, MediaLimits()).rgb
        faces = sorted(self.fi.faces(rgb), key=lambda f: -f.size)
        self.ms.append((time.perf_counter() - t0) * 1000)
        return unit(faces[0].vector) if faces else None


class _Recorder:
    """The face encoder handed to the product's Enroller, keeping what each frame gave so
    that one decoding pass yields both the clip's enrolment and its probe."""

    def __init__(self, fi: FaceIdentity) -> None:
        self.fi = fi
        self.frames: list[list[FaceTemplate]] = []

    def faces(self, rgb: np.ndarray) -> list[FaceTemplate]:
        out = self.fi.faces(rgb)
        self.frames.append(sorted(out, key=lambda f: -f.size))
        return out


class _NoVoice:
    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
        return None  # faces only: decoding the clip's voice is another evaluation's work


# The Enroller also measures how a clip's person moves and blinks, ten times the cost of the
# faces and no part of matching: switched off where this fakescope has that step.
_NO_BEHAVIOUR: dict[str, Callable[[Path], None]] = (
    {"behaviour": lambda _path: None} if "behaviour" in inspect.signature(Enroller).parameters else {})


@dataclass
class Clip:
    set: str
    file: str
    label: str
    recording: str  # the source file it was cut from: one recording however many crops
    person: str
    enrol: np.ndarray = field(repr=False)  # (n, 128) product enrolment templates, n may be 0
    probe: np.ndarray | None = field(repr=False)
    single: bool  # a face in some frame and never a second one nearly as large

    @property
    def key(self) -> str:
        return f"{self.set}:{self.file}"


def person_of(set_name: str, file: str, source: str) -> str:
    m = MEAD_ID.search(file)
    if m and set_name == "dev" and "dreamtalk/" in file:
        return f"mead-{m.group(1)}"
    if source in BY_EYE:
        return BY_EYE[source]
    text = f"{set_name}/{file} {source}"
    for name, pattern in NAMED.items():
        if pattern.search(text):
            return name
    return f"recording:{source}"


def read_clip(fi: FaceIdentity, path: Path, frames: int) -> tuple[np.ndarray, np.ndarray | None, bool]:
    rec = _Recorder(fi)
    enroller = Enroller(faces=lambda: rec, voices=_NoVoice, **_NO_BEHAVIOUR)
    # No single clear face: the clip enrols nothing, its probe may still exist.
    with contextlib.suppress(EnrolMediaError):
        enroller.video(path, frames)
    enrol = np.stack(enroller.out.faces) if enroller.out.faces else np.zeros((0, 128), np.float32)
    largest = [f[0].vector for f in rec.frames if f]
    probe = unit(np.mean([unit(v) for v in largest], axis=0)) if largest else None
    single = bool(largest) and all(len(f) < 2 or f[1].size < AMBIGUOUS_SIZE * f[0].size for f in rec.frames)
    return enrol, probe, single


def load_clips(fi: FaceIdentity, folders: list[tuple[str, Path]], frames: int) -> list[Clip]:
    clips: list[Clip] = []
    for set_name, folder in folders:
        for r in read_labels(folder / "labels.csv"):
            source = r.get("source") or f"{set_name}:{r['file']}"
            enrol, probe, single = read_clip(fi, folder / r["file"], frames)
            clips.append(Clip(set_name, r["file"], r["label"], source, person_of(set_name, r["file"], source),
                              enrol, probe, single))
        print(f"  {set_name}: {sum(c.set == set_name for c in clips)} clips read", flush=True)
    return clips


def sha_order(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def one_per_recording(clips: list[Clip]) -> list[Clip]:
    """The first usable crop (by file name) of each recording."""
    by_rec: dict[str, Clip] = {}
    for c in sorted(clips, key=lambda c: c.key):
        if c.probe is not None and c.single and c.recording not in by_rec:
            by_rec[c.recording] = c
    return list(by_rec.values())


def face_photos(args: argparse.Namespace, photo: PhotoFaces) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """Evaluation 1; also returns face_recognition's vectors per person for evaluation 2."""
    out: dict = {}
    # deepface's pairs
    master = git_blob(args.deepface, "tests/unit/dataset/master.csv").decode()
    rows = list(csv.DictReader(master.splitlines()))
    names = sorted({r["file_x"] for r in rows} | {r["file_y"] for r in rows})
    vec = {n: photo(git_blob(args.deepface, f"tests/unit/dataset/{n}")) for n in names}
    gen, imp, no_face = [], [], 0
    for r in rows:
        a, b = vec[r["file_x"]], vec[r["file_y"]]
        if a is None or b is None:
            no_face += 1
            continue
        (gen if r["Decision"].strip() == "Yes" else imp).append(float(a @ b))
    d = rates(gen, imp, FACE_THRESHOLD)
    d |= {"photos": len(names), "no_face_photos": sum(v is None for v in vec.values()),
          "pairs_without_face": no_face, "repo": f"serengil/deepface@{git_head(args.deepface)}"}
    out["deepface_master"] = d
    # face_recognition's photos: all pairs
    fr: dict[str, list[np.ndarray]] = {}
    fr_files: list[tuple[str, str, np.ndarray]] = []
    missing = []
    for person, paths in FR_PHOTOS.items():
        for p in paths:
            v = photo(git_blob(args.face_recognition, p))
            if v is None:
                missing.append(p)
                continue
            fr.setdefault(person, []).append(v)
            fr_files.append((person, p, v))
    gen, imp, near = [], [], []
    for (pa, fa, va), (pb, fb, vb) in itertools.combinations(fr_files, 2):
        cos = float(va @ vb)
        if cos >= NEAR_COPY:
            near.append(f"{fa} ~ {fb}")
            continue
        (gen if pa == pb else imp).append(cos)
    d = rates(gen, imp, FACE_THRESHOLD)
    d |= {"photos": len(fr_files), "people": len(fr), "no_face": missing, "near_copies_left_out": near,
          "repo": f"ageitgey/face_recognition@{git_head(args.face_recognition)}"}
    out["face_recognition"] = d
    dm, fr_r = out["deepface_master"], out["face_recognition"]
    table("1. Face, photos of other sessions (cosine of two photos' largest faces; "
          f"FMR/FNMR at {FACE_THRESHOLD})", RATE_HEAD,
          [rate_row("deepface master.csv", None, dm["photos"], dm["photos"], dm),
           rate_row("face_recognition", fr_r["people"], fr_r["photos"], fr_r["photos"], fr_r)])
    if near:
        print(f"  left out as near-copies of one photo: {near}")
    if missing or dm["no_face_photos"]:
        print(f"  no face found: deepface {dm['no_face_photos']} photos ({no_face} pairs), "
              f"face_recognition {missing}")
    return out, fr


def face_video(args: argparse.Namespace, clips: list[Clip], photos: dict[str, list[np.ndarray]]) -> dict:
    """Evaluation 2."""
    real = [c for c in clips if c.label == "real"]
    recordings = one_per_recording(real)
    by_person: dict[str, list[Clip]] = {}
    for c in recordings:
        by_person.setdefault(c.person, []).append(c)
    enrolled = {p: cs for p, cs in by_person.items() if not p.startswith("recording:") and
                (len(cs) >= 2 or p in photos)}
    # Impostor pool: every usable recording; the enrolled people's always (they are the hard
    # cases: MEAD's other actors, same studio and lighting), the rest by a fixed hash order.
    keep = [c for c in recordings if c.person in enrolled]
    rest = sorted((c for c in recordings if c.person not in enrolled), key=lambda c: sha_order(c.key))
    room = max(0, args.max_impostor_clips - len(keep))
    pool = keep + rest[:room]
    unusable = sum(1 for c in real if c.probe is None or not c.single)
    print(f"\n  {len(real)} real clips: {len(recordings)} usable recordings (single person, one crop each), "
          f"{unusable} clips without one clear face; impostor pool {len(pool)} of {len(recordings)} "
          f"(cap {args.max_impostor_clips})")
    rows, per_person, all_gen, all_imp, mead_gen, mead_imp, top = [], {}, [], [], [], [], []
    n_enrolments: dict[str, int] = {}
    n_probes: dict[str, int] = {}  # the person's recordings and photos: each probes the others' enrolments
    for person in sorted(enrolled):
        cs = enrolled[person]
        gen_v, gen_p, imp, n_enrol = [], [], [], 0
        for e in cs:
            if not len(e.enrol):
                continue
            n_enrol += 1
            gen_v += [score(c.probe, e.enrol) for c in cs if c is not e and c.probe is not None]
            gen_p += [score(v, e.enrol) for v in photos.get(person, [])]
            for c in pool:
                if c.person != person:
                    s = score(c.probe, e.enrol)  # type: ignore[arg-type]
                    imp.append(s)
                    top.append((s, person, e.key, c.key))
        r = rates(gen_v + gen_p, imp, FACE_THRESHOLD)
        r |= {"recordings": [c.key for c in cs], "genuine_video": len(gen_v), "genuine_photo": len(gen_p),
              "video_fnmr": float(np.mean(np.array(gen_v) < FACE_THRESHOLD)) if gen_v else None}
        per_person[person] = r
        n_enrolments[person], n_probes[person] = n_enrol, len(cs) + len(photos.get(person, []))
        rows.append(rate_row(person, 1, n_enrol, n_probes[person], r))
        all_gen += gen_v + gen_p
        all_imp += imp
        if person.startswith("mead-"):
            mead_gen += gen_v
            mead_imp += imp
    pooled = rates(all_gen, all_imp, FACE_THRESHOLD)
    mead = rates(mead_gen, mead_imp, FACE_THRESHOLD)
    meads = [p for p in enrolled if p.startswith("mead-")]
    rows.append(rate_row("MEAD pooled", len(meads), sum(n_enrolments[p] for p in meads),
                         sum(n_probes[p] for p in meads), mead))
    rows.append(rate_row("all pooled", len(enrolled), sum(n_enrolments.values()), sum(n_probes.values()),
                         pooled))
    # Photo enrolment, clip probes: what an operator enrolling a few photos gets on video.
    prow, photo_rows = [], {}
    for person, vecs in photos.items():
        if person not in by_person or len(vecs) < 1:
            continue
        templates = np.stack(vecs)
        gen = [score(c.probe, templates) for c in by_person[person]]  # type: ignore[arg-type]
        imp = [score(c.probe, templates) for c in pool if c.person != person]  # type: ignore[arg-type]
        r = rates(gen, imp, FACE_THRESHOLD)
        photo_rows[person] = r
        prow.append(rate_row(f"{person} ({len(vecs)} photos)", 1, 1, len(gen), r))
    table(f"2. Face, enrolment from one recording, probes = the person's other recordings (+ photos); "
          f"FMR/FNMR at {FACE_THRESHOLD}; last rows: enrolment from photos, probes = clips",
          RATE_HEAD, rows + prow)
    top.sort(reverse=True)
    print("  highest impostor scores: " + "; ".join(f"{s:.3f} {p} [{e}] vs {c}" for s, p, e, c in top[:6]))
    return {"people": per_person, "mead_pooled": mead, "pooled": pooled, "photo_enrolment": photo_rows,
            "impostor_pool": len(pool), "usable_recordings": len(recordings), "cap": args.max_impostor_clips,
            "top_impostors": [{"score": s, "person": p, "enrolment": e, "probe": c}
                              for s, p, e, c in top[:10]],
            "frames": args.frames}


def talking_heads(clips: list[Clip]) -> dict:
    """Evaluation 3: generated clips of a person whose real recordings we hold."""
    recordings = one_per_recording([c for c in clips if c.label == "real"])
    real_of: dict[str, list[Clip]] = {}
    for c in recordings:
        real_of.setdefault(c.person, []).append(c)
    fakes = [c for c in clips if c.label == "fake" and c.probe is not None]
    groups: dict[str, list[tuple[Clip, str]]] = {}
    for c in fakes:
        m = MEAD_STYLE.search(c.file)
        if c.set == "dev" and m:
            # DreamTalk's file names carry the MEAD clip that gave the speaking style; the face
            # is the portrait named at the end (zp1, male_face): not M030's face.
            person = f"mead-{m.group(1)}"
            groups.setdefault(f"DreamTalk, {person} as style clip (dev)", []).append((c, person))
        elif c.person in real_of and not c.person.startswith("recording:"):
            # Only fakes named after a person: a fake cut from the same comparison video as a
            # real panel may show another face (reenactment drives a different portrait).
            groups.setdefault(f"{c.set}: {c.person}", []).append((c, c.person))
    out, rows = {}, []
    for name, items in sorted(groups.items()):
        scores, per_fake = [], {}
        for c, person in items:
            s = [score(c.probe, e.enrol) for e in real_of[person] if len(e.enrol)]  # type: ignore[arg-type]
            scores += s
            per_fake[c.key] = float(np.median(s)) if s else None
        a = np.array(scores)
        out[name] = {"fakes": len(items), "enrolments": len({e.key for _, p in items for e in real_of[p]}),
                     "pairs": len(a), "match_share": float(np.mean(a >= FACE_THRESHOLD)) if len(a) else None,
                     "median": float(np.median(a)) if len(a) else None, "per_fake_median": per_fake}
        rows.append([name, len(items), out[name]["enrolments"], len(a), out[name]["match_share"],
                     out[name]["median"], float(a.min()) if len(a) else None,
                     float(a.max()) if len(a) else None])
    table(f"3. Generated talking heads against the enrolments of the person named "
          f"(share >= {FACE_THRESHOLD})",
          ["", "fakes", "enrolments", "pairs", "share>=thr", "median", "min", "max"], rows)
    return out


# -- voices -----------------------------------------------------------------------------------

class Voices:
    """A recording's voice vector through the product's Enroller; None for too little speech,
    and for a copy of audio already read (speech/vc holds each converted clip under every
    system's folder, and one bona fide utterance twice): identical audio gives an identical
    vector, so a copy would be a same-speaker pair of cosine 1."""

    def __init__(self) -> None:
        self.encoder = SpeakerEncoder()
        self.first: dict[bytes, str] = {}
        self.copies: list[str] = []

    def __call__(self, path: Path) -> np.ndarray | None:
        enroller = Enroller(voices=lambda: self.encoder)
        try:
            enroller.audio(path)
        except EnrolMediaError:
            return None
        v = enroller.out.voices[0]
        h = np.round(v, 5).tobytes()
        if h in self.first:
            self.copies.append(f"{path} = {self.first[h]}")
            return None
        self.first[h] = str(path)
        return v


@dataclass
class Utt:
    speaker: str
    file: str
    vec: np.ndarray = field(repr=False)
    label: str = "bonafide"
    system: str = ""
    source: str = ""


def enrol_sets(utts: list[Utt], k: int) -> list[list[int]]:
    """Enrolments of k utterances: each one alone, or consecutive non-overlapping groups."""
    idx = list(range(len(utts)))
    return [[i] for i in idx] if k == 1 else [idx[i : i + k] for i in range(0, len(idx) - k + 1, k)]


def voice_number(u: Utt) -> int:
    m = re.search(r"(\d+)\.\w+$", u.file)
    return int(m.group(1)) if m else 0


def voice(args: argparse.Namespace) -> dict:
    enc = Voices()
    speech = args.data / "speech"
    out: dict = {}
    # (a) LibriSpeech: the dev set of VOICE_MATCH
    libri = []
    for r in read_labels(speech / "librispeech" / "labels.csv"):
        v = enc(speech / "librispeech" / r["file"])
        if v is not None:
            libri.append(Utt(Path(r["file"]).parts[1], r["file"], v))
    gen, imp = [], []
    for a, b in itertools.combinations(libri, 2):
        (gen if a.speaker == b.speaker else imp).append(float(a.vec @ b.vec))
    g, i = np.array(gen), np.array(imp)
    voice_match = round(eer_threshold(g, i), 3)
    la = rates(g, i, voice_match)
    la |= {"utterances": len(libri), "speakers": len({u.speaker for u in libri}), "voice_match": voice_match}
    out["librispeech"] = la
    table(f"4a. Voice, LibriSpeech all pairs (dev set of the voice threshold): VOICE_MATCH = {voice_match}",
          RATE_HEAD, [rate_row("librispeech", la["speakers"], la["utterances"], la["utterances"], la)])
    # (b) cross-recording speakers
    labels = read_labels(speech / "vc" / "labels.csv")
    vc_real: dict[str, list[Utt]] = {}
    vc_spoof: list[Utt] = []
    for r in labels:
        v = enc(speech / "vc" / r["file"])
        if v is None:
            continue
        parts = Path(r["file"]).parts
        if r["label"] == "bonafide":
            who = next(s for s, tag in VC_SPEAKERS.items() if tag in parts[1])
            vc_real.setdefault(who, []).append(Utt(f"vc-{who}", r["file"], v))
        else:
            vc_spoof.append(Utt(parts[2], r["file"], v, "spoof", r["system"]))
    for who in vc_real:
        vc_real[who].sort(key=voice_number)
    tts = read_labels(speech / "tts" / "labels.csv")
    lj, vctk, lj_fakes = [], [], []
    for r in tts:
        src = r.get("source", "")
        is_gt = r["label"] == "bonafide" and r["system"] == "hifigan-demo"
        if not (is_gt or (r["label"] == "spoof" and LJ_TTS.search(src))):
            continue
        v = enc(speech / "tts" / r["file"])
        if v is None:
            continue
        path = src.split(":", 1)[-1]
        if is_gt and "/ms/" in path:
            vctk.append(Utt(f"vctk-{path}", r["file"], v, source=path))
        elif is_gt:  # ss and e2e ground truth: LJ Speech, one speaker (the demo page's headings)
            lj.append(Utt("lj", r["file"], v, source=path))
        else:
            lj_fakes.append(Utt("lj", r["file"], v, "spoof", r["system"], path))
    lj.sort(key=lambda u: u.source)
    others = libri + [u for us in vc_real.values() for u in us] + lj + vctk
    speakers = {**{f"vc-{w}": us for w, us in vc_real.items()}, "lj": lj}
    cross, rows, top = {}, [], []
    for k in args.voice_enrol:
        all_g, all_i, n_sets = [], [], 0
        for name, us in speakers.items():
            gen, imp, sets = [], [], enrol_sets(us, k)
            for s in sets:
                templates = np.stack([us[j].vec for j in s])
                gen += [score(us[j].vec, templates) for j in range(len(us)) if j not in s]
                for o in others:
                    if o.speaker != name:
                        imp.append(score(o.vec, templates))
                        top.append((imp[-1], k, us[s[0]].file, o.file))
            r = rates(gen, imp, voice_match)
            cross[f"{name} k={k}"] = r | {"utterances": len(us), "enrolments": len(sets)}
            rows.append(rate_row(f"{name}, enrol {k}", 1, len(sets), len(us), r))
            n_sets += len(sets)
            all_g += gen
            all_i += imp
        r = rates(all_g, all_i, voice_match)
        cross[f"pooled k={k}"] = r
        n_utts = sum(map(len, speakers.values()))
        rows.append(rate_row(f"pooled, enrol {k}", len(speakers), n_sets, n_utts, r))
    top.sort(reverse=True)
    out["cross_recording"] = cross
    out["cross_recording_top_impostors"] = [{"score": v, "enrol": k, "enrolment": a, "probe": b}
                                            for v, k, a, b in top[:10]]
    out["impostor_recordings"] = {"librispeech": len(libri), "vc_bonafide": sum(map(len, vc_real.values())),
                                  "lj": len(lj), "vctk": len(vctk)}
    table(f"4b. Voice, enrolment from 1 or 3 utterances, probes = the speaker's other utterances; FMR/FNMR "
          f"at VOICE_MATCH {voice_match}; impostors: LibriSpeech, the other speech/vc speaker, LJ, VCTK GT",
          RATE_HEAD, rows)
    print("  highest impostor scores: "
          + "; ".join(f"{v:.3f} (enrol {k}: {a}) vs {b}" for v, k, a, b in top[:3]))
    # (c) voice conversion into, and TTS of, a voice whose real recordings we hold
    fake_rows, fakes_out = [], {}

    def fake_row(name: str, probes: list[Utt], real: list[Utt], ks: list[int]) -> None:
        for k in ks:
            sets = [list(range(len(real)))] if k == 0 else enrol_sets(real, k)
            s = np.array([score(p.vec, np.stack([real[j].vec for j in e])) for p in probes for e in sets])
            label = f"{name}, enrol {'all ' + str(len(real)) if k == 0 else k}"
            fakes_out[label] = {"fakes": len(probes), "enrolments": len(sets), "pairs": len(s),
                                "match_share": float(np.mean(s >= voice_match)),
                                "median": float(np.median(s))}
            fake_rows.append([label, len(probes), len(sets), len(s), fakes_out[label]["match_share"],
                              float(np.median(s)), float(s.min()), float(s.max())])

    for target in ("North", "South"):
        conv = [u for u in vc_spoof
                if (m := VC_TARGET.match(u.speaker)) and m.group(2).lower() == target.lower()]
        source = "South" if target == "North" else "North"
        fake_row(f"VC into {target} vs {target} (target)", conv, vc_real[target], [*args.voice_enrol, 0])
        fake_row(f"VC into {target} vs {source} (source)", conv, vc_real[source], [*args.voice_enrol, 0])
    fake_row("TTS/vocoder LJ voices vs LJ", lj_fakes, lj, [*args.voice_enrol, 0])
    for system in sorted({u.system for u in lj_fakes}):  # per system: one-utterance enrolments only
        fake_row(f"  {system} vs LJ", [u for u in lj_fakes if u.system == system], lj, [1])
    out["fakes"] = fakes_out
    out["vc_spoof_distinct"] = len(vc_spoof)
    out["copies_dropped"] = enc.copies
    table(f"4c. Converted and synthetic voices against the real voice's enrolment (share >= VOICE_MATCH "
          f"{voice_match}; 'all' = every real utterance enrolled)",
          ["", "fakes", "enrolments", "pairs", "share>=thr", "median", "min", "max"], fake_rows)
    bona_fide_copies = [c for c in enc.copies if "/spoof/" not in c]
    print(f"  speech/vc spoof: {len(vc_spoof)} distinct clips; {len(enc.copies)} copies of audio read before "
          f"left out, bona fide ones: {bona_fide_copies}")
    out["timing_ms_per_5s"] = voice_timing(enc.encoder, speech / "librispeech", libri)
    return out


def voice_timing(encoder: SpeakerEncoder, folder: Path, libri: list[Utt], n: int = 20) -> float:
    limits = MediaLimits()
    times = []
    for u in libri:
        media = decode(read_file(folder / u.file, limits), limits)
        assert isinstance(media, AudioMedia)
        x = media.samples(16000)
        if len(x) < 5 * 16000:
            continue
        t0 = time.perf_counter()
        encoder.embed(x[: 5 * 16000], 16000)
        times.append((time.perf_counter() - t0) * 1000)
        if len(times) >= n:
            break
    return float(np.mean(times[1:]))  # the first run pays for the session's warm-up


# -- main -------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="shared/data (video/dev, video/gen2, speech)")
    ap.add_argument("--video-corpus", type=Path, required=True,
                    help="a folder with labels.csv (source column)")
    ap.add_argument("--deepface", type=Path, required=True, help="a git directory of serengil/deepface")
    ap.add_argument("--face-recognition", type=Path, required=True,
                    help="a git directory of ageitgey/face_recognition")
    ap.add_argument("--frames", type=int, default=VIDEO_FRAMES)
    ap.add_argument("--max-impostor-clips", type=int, default=300)
    ap.add_argument("--voice-enrol", type=int, nargs="+", default=[1, 3],
                    help="utterances per voice enrolment")
    ap.add_argument("--skip", choices=["face", "voice"], action="append", default=[])
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    t_start = time.time()
    report: dict = {"argv": sys.argv[1:], "machine": f"{platform.machine()} {platform.processor()}".strip(),
                    "face_threshold": FACE_THRESHOLD}
    if "face" not in args.skip:
        fi = FaceIdentity()
        photo = PhotoFaces(fi)
        report["photos"], fr_people = face_photos(args, photo)
        report["timing_ms_per_photo"] = float(np.mean(photo.ms[1:]))
        print("\nreading clips (8 frames each) ...", flush=True)
        clips = load_clips(fi, [("dev", args.data / "video" / "dev"), ("gen2", args.data / "video" / "gen2"),
                                ("corpus", args.video_corpus)], args.frames)
        report["video"] = face_video(args, clips, fr_people)
        report["talking_heads"] = talking_heads(clips)
    if "voice" not in args.skip:
        report["voice"] = voice(args)
    timing = [["photo face template (decode, detect, embed)", report.get("timing_ms_per_photo")],
              ["voice embedding of 5 s", report.get("voice", {}).get("timing_ms_per_5s")]]
    table("5. Time on this machine (mean ms)", ["", "ms"], timing)
    report["seconds"] = round(time.time() - t_start, 1)
    print(f"\n{report['seconds']:.0f} s in all")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
