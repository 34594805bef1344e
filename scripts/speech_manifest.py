"""Build ``corpora/speech/manifest.csv``: zero-shot voice clones and the real recordings
published beside them on 13 research demo pages, each file pinned to a commit.

The rules in ``RULES`` below say, per repository, which files are real (prompts,
references, ground truth) and which are fakes made by the page's own authors (clones, voice
conversions), with the system, language and prompt id; everything else is left out (the
page's copies of other demos' baselines and prompts, prompt+continuation files, speech
editing, codec resyntheses, singing). Every file is read from its snapshot at the pinned
commit, decoded with soundfile (failures are counted and left out), refused under 1.0 s,
and hashed (sha256 of its bytes); a file whose bytes were already kept (the same file on
two pages) is kept once, under the rule listed first. ``--used`` names the speech data the
project already trains on (``shared/data/speech``, 16 kHz cuts): a candidate whose energy
envelope matches one of those clips is left out too, whatever its rule says.

    python scripts/speech_manifest.py --repos /work/.mirror --used ../shared/data/speech

The README beside the manifest says what each page holds and why folders were left out.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import logging
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from fakescope.train.pictures_corpus import git_dir, read_blobs, write_rows

log = logging.getLogger("speech_manifest")
ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "corpora" / "speech" / "manifest.csv"
AUDIO_EXT = (".wav", ".mp3", ".flac", ".ogg")
MIN_SECONDS = 1.0
FPS = 50  # energy-envelope frames per second (the --used check)
WINDOW = 75  # frames compared (1.5 s)
MATCH = 0.999  # correlation of envelopes at which two clips are the same recording

NONE = "none stated"


@dataclass(frozen=True)
class Page:
    repo: str
    commit: str
    family: str
    licence: str = NONE
    non_commercial: int = 1


@dataclass(frozen=True)
class Rule:
    page: Page
    include: tuple[str, ...]  # fnmatch patterns on the path
    label: str  # real | fake
    system: str  # bonafide for reals
    language: str
    exclude: tuple[str, ...] = ()
    key: str = ""  # regex on the path; its groups fill ``prompt``
    prompt: str = ""
    lang_key: str = ""  # regex whose group 1 names the language (overrides ``language``)
    note: str = ""


@dataclass(frozen=True)
class Row:
    repo: str
    commit: str
    path: str
    sha256: str
    label: str
    system: str
    page: str
    family: str
    prompt: str
    language: str
    seconds: float
    sample_rate: int
    licence: str
    non_commercial: int
    note: str


# -- pages -------------------------------------------------------------------------------
# Families: pages that share prompts or test cases (see corpora/speech/README.md).
LIBRI16 = "libri16-krafton"  # CLaM-TTS, DiTTo-TTS, FlashSpeech: one 16-case LibriSpeech set
SEEDTTS = "seedtts-prompts"  # F5-TTS, ZipVoice, Seed-VC: clones of Seed-TTS demo prompts
CLAM = Page("clam-tts/clam-tts.github.io", "d4282defc3ac688de3cbb1043cc223a232cb3bd2", LIBRI16)
DITTO = Page("ditto-tts/ditto-tts.github.io", "db324379ffa284a7f0ef08b74e0f6df7029c4013", LIBRI16)
FLASH = Page("flashspeech/flashspeech.github.io", "dda371ecaea5f1335abbefcf4600a8e3b2e10c1b", LIBRI16)
HIER = Page("sh-lee-prml/HierSpeechpp-demo", "9a78d65e4592d1106e3f5d82ddaa03b51c20cbbc", "hierspeechpp")
MOBILE = Page("MobileSpeech/MobileSpeech.github.io", "2a6a00a045d4df74c35bcfde3403d83df7798d8b",
              "mobilespeech", "CC0-1.0 (LICENSE file of the Jekyll theme; nothing about the audio)", 0)
UNIAUDIO = Page("yangdongchao/UniAudio_demo", "c791732f6d4a62040e0e9737cdf5433af3b6c465", "uniaudio")
SS2 = Page("yangdongchao/SimpleSpeech2_demo", "b8e7161330b9b991e296da94e47aef358233f8d0", "simplespeech2")
F5 = Page("SWivid/SWivid.github.io", "b16f1066666cf1e4e22434118e5d18f30f593e83", SEEDTTS)
ZIPVOICE = Page("zipvoice/zipvoice.github.io", "8e0b5a9d63c86b28f06b80ad9d555f4b1e0e8119", SEEDTTS)
SEEDVC = Page("Plachtaa/Plachtaa.github.io", "39713dcd39e7c5b915b16b2c17e8300dfe51417a", SEEDTTS)
FREEVC = Page("OlaWod/FreeVC-demo", "3bc03ab2f0771a9bdaf8eea63c40833e2ca5da62", "freevc")
ZET = Page("ZET-Speech/ZET-Speech-Demo", "304e02ef303951c63232b903be44c3b4d271539d", "zet-speech")
KOEL = Page("koeltts/koeltts.github.io", "7f27aa738c557ffff924522cc09185f223f05ee1", "koel-tts")

LS_ID = r"librispeech_(\d+-\d+-\d+)_"
MLS = r"audios/mls/mls_([a-z]+_\d+_\d+_\d+)_"
MLS_LANG = r"audios/mls/mls_([a-z]+)_"

RULES: list[Rule] = [
    # -- CLaM-TTS (ICLR 2024): listed before DiTTo and FlashSpeech, which copy its files --
    Rule(CLAM, ("audios/librispeech_16kHz/prompt/*.wav", "audios/librispeech_16kHz/gt/*.wav"), "real",
         "bonafide", "en", key=r"/(\d+)\.wav$", prompt="libri16-{0}",
         note="LibriSpeech test-clean (16-case set of the NaturalSpeech 2 demo)"),
    Rule(CLAM, ("audios/librispeech_16kHz/ours/*.wav",), "fake", "clam-tts", "en", key=r"/(\d+)\.wav$",
         prompt="libri16-{0}"),
    Rule(CLAM, ("audios/librispeech/*_prompt.wav", "audios/librispeech/*_gt.wav"), "real", "bonafide", "en",
         key=LS_ID, prompt="ls-{0}", note="LibriSpeech test-clean"),
    Rule(CLAM, ("audios/librispeech/*_ours_gen.wav",), "fake", "clam-tts", "en", key=LS_ID, prompt="ls-{0}",
         note="generated continuation only (ours_all = prompt + it, left out)"),
    Rule(CLAM, ("audios/mls/*_prompt.wav", "audios/mls/*_gt.wav"), "real", "bonafide", "", key=MLS,
         prompt="mls-{0}", lang_key=MLS_LANG, exclude=("*_ours_prompt.wav",),
         note="Multilingual LibriSpeech"),
    Rule(CLAM, ("audios/mls/*_ours_gen.wav",), "fake", "clam-tts", "", key=MLS, prompt="mls-{0}",
         lang_key=MLS_LANG, note="generated continuation only"),
    Rule(CLAM, ("audios/vctk/*_ours_gen.wav",), "fake", "clam-tts", "en", key=r"vctk_(p\d+)_",
         prompt="vctk-{0}", note="prompt from the VALL-E demo (left out)"),
    Rule(CLAM, ("audios/robust/*_ours.wav",), "fake", "clam-tts", "en", note="hard sentences, no prompt"),
    Rule(CLAM, ("audios/speaker_diversity/*.wav",), "fake", "clam-tts", "en", note="no prompt"),
    Rule(CLAM, ("audios/text_prompt/*.wav",), "fake", "clam-tts", "en", note="style from a text prompt"),
    # -- DiTTo-TTS (ICLR 2025) ------------------------------------------------------------
    Rule(DITTO, ("audios/librispeech_16kHz/prompt/*.wav", "audios/librispeech_16kHz/gt/*.wav"), "real",
         "bonafide", "en", key=r"/(\d+)\.wav$", prompt="libri16-{0}",
         note="LibriSpeech test-clean (16-case set)"),
    Rule(DITTO, ("audios/librispeech_16kHz/ours/*.wav",), "fake", "ditto-tts", "en", key=r"/(\d+)\.wav$",
         prompt="libri16-{0}"),
    Rule(DITTO, ("audios/librispeech/*_prompt.wav", "audios/librispeech/*_gt.wav"), "real", "bonafide", "en",
         key=LS_ID, prompt="ls-{0}", exclude=("*_ours_prompt.wav",), note="LibriSpeech test-clean"),
    Rule(DITTO, ("audios/mls/*_prompt.wav", "audios/mls/*_gt.wav"), "real", "bonafide", "", key=MLS,
         prompt="mls-{0}", lang_key=MLS_LANG, exclude=("*_ours_prompt.wav",),
         note="Multilingual LibriSpeech"),
    Rule(DITTO, ("audios/ravdess/gt/*_ours.wav",), "fake", "ditto-tts", "en", key=r"rvd_bm_(\d)_",
         prompt="ns3-ravdess-{0}", note="RAVDESS prompt from the NaturalSpeech 3 demo (left out)"),
    Rule(DITTO, ("audios/ravdess/zs_emo/*_ours.wav",), "fake", "ditto-tts", "en", key=r"zs_emo_(\d)_",
         prompt="ns3-zs-emo-{0}", note="RAVDESS prompt from the NaturalSpeech 3 demo (left out)"),
    Rule(DITTO, ("audios/comparison/simpletts/*_wav_p_?_wav_p.wav",), "real", "bonafide", "en",
         key=r"/(\d+-\d+-\d+)_wav_p_(\d)", prompt="ls-{0}-{1}", note="LibriSpeech test-clean prompt"),
    Rule(DITTO, ("audios/comparison/simpletts/*_wav_p_?.wav",), "fake", "simple-tts", "en",
         key=r"/(\d+-\d+-\d+)_wav_p_(\d)", prompt="ls-{0}-{1}",
         note="run by the DiTTo authors from the official checkpoint"),
    Rule(DITTO, ("audios/comparison/*/*_ours.wav",), "fake", "ditto-tts", "en",
         note="prompts of the NS3/Voicebox/E3-TTS comparisons come from those demos (left out)"),
    Rule(DITTO, ("audios/robust/*_ours*.wav",), "fake", "ditto-tts", "en", note="hard sentences, no prompt"),
    Rule(DITTO, ("audios/speaker_diversity/*.wav",), "fake", "ditto-tts", "en", note="no prompt"),
    Rule(DITTO, ("audios/speech_rate/*.wav",), "fake", "ditto-tts", "en", note="speech-rate control"),
    # -- FlashSpeech (ACM MM 2024) --------------------------------------------------------
    Rule(FLASH, ("dataset/3s_ref/*.wav", "dataset/truth/*.wav"), "real", "bonafide", "en",
         key=r"/(\d+)\.wav$", prompt="libri16-{0}", note="LibriSpeech test-clean (16-case set)"),
    Rule(FLASH, ("dataset/demo_s2/*.wav",), "fake", "flashspeech", "en", key=r"/(\d+)\.wav$",
         prompt="libri16-{0}"),
    Rule(FLASH, ("dataset_vb/ours/*.wav",), "fake", "flashspeech", "en",
         note="prompt from the Voicebox demo (left out)"),
    Rule(FLASH, ("dataset_vctk/ours/*.wav",), "fake", "flashspeech", "en",
         note="VCTK prompt from the VALL-E demo (left out)"),
    Rule(FLASH, ("dataset_emotion_maintenance/ours/*.wav", "dataset_acoustic_maintenance/ours/*.wav"), "fake",
         "flashspeech", "en", note="prompt from the VALL-E/StyleTTS 2 demos (left out)"),
    Rule(FLASH, ("dataset_diverse_sample/*/*.wav",), "fake", "flashspeech", "en", note="no prompt"),
    Rule(FLASH, ("dataset_vc/ori/*.wav",), "real", "bonafide", "en", key=r"/(\d+)\.wav$",
         prompt="flashvc-{0}-source"),
    Rule(FLASH, ("dataset_vc/ref/*.wav",), "real", "bonafide", "en", key=r"/(\d+)\.wav$",
         prompt="flashvc-{0}-target"),
    Rule(FLASH, ("dataset_vc/norm/*.wav",), "fake", "flashspeech", "en", key=r"/(\d+)\.wav$",
         prompt="flashvc-{0}-target", note="voice conversion"),
    Rule(FLASH, ("dataset_vc/dddm_vc/*.wav",), "fake", "dddm-vc", "en", key=r"/(\d+)\.wav$",
         prompt="flashvc-{0}-target", note="voice conversion baseline; the page does not say who ran it"),
    Rule(FLASH, ("dataset_vc/yourtts/*.wav",), "fake", "yourtts", "en", key=r"/(\d+)\.wav$",
         prompt="flashvc-{0}-target", note="voice conversion baseline; the page does not say who ran it"),
    # -- HierSpeech++ (2023) --------------------------------------------------------------
    Rule(HIER, ("audio/0_zeroshot_tts/expresso_tts/*.wav",), "real", "bonafide", "en", key=r"/([^/]+)\.wav$",
         prompt="expresso-{0}", note="Expresso prompt (one is a Steve Jobs speech)"),
    Rule(HIER, ("audio/0_zeroshot_tts/expresso_tts_hier/*.wav",), "fake", "hierspeechpp", "en",
         key=r"/([^/]+)\.wav$", prompt="expresso-{0}"),
    Rule(HIER, ("audio/1_zeroshot_tts/libritts_test_clean_full/*.wav",), "real", "bonafide", "en",
         key=r"/([^/]+)\.wav$", prompt="libritts-{0}", note="LibriTTS test-clean"),
    *[Rule(HIER, (f"audio/1_zeroshot_tts/{folder}/*.wav",), "fake", system, "en", key=r"/([^/]+)\.wav$",
           prompt="libritts-{0}", note=note)
      for folder, system, note in (
          ("hierspeechpp_lt460", "hierspeechpp", "LibriTTS-460 model"),
          ("hierspeechpp_lt960", "hierspeechpp", "LibriTTS-960 model"),
          ("hierspeechpp_eng_kor", "hierspeechpp", "English-Korean model"),
          ("hierspeech", "hierspeech", ""),
          ("YourTTS_test-clean", "yourtts", ""),
          ("valle_clean", "vall-e-x", "open VALL-E X implementation"),
          ("coquitts_test_clean", "xtts", "XTTS v1"))],
    Rule(HIER, ("audio/GT_VCTK/*.wav", "audio/4_zeroshot_vc/GT_target_same_uttr/*.wav"), "real", "bonafide",
         "en", note="VCTK"),
    *[Rule(HIER, (f"audio/4_zeroshot_vc/{folder}/*.wav",), "fake", system, "en", key=r"_to_(p\d+_\d+)\.wav$",
           prompt="vctk-{0}", note=note)
      for folder, system, note in (
          ("hierspeechpp_lt460", "hierspeechpp", "voice conversion, LibriTTS-460 model"),
          ("hierspeechpp_lt960", "hierspeechpp", "voice conversion, LibriTTS-960 model"),
          ("hierspeechpp_eng_kor", "hierspeechpp", "voice conversion, English-Korean model"),
          ("AutoVC", "autovc", "voice conversion"), ("VoiceMixer", "voicemixer", "voice conversion"),
          ("DiffVC", "diffvc", "voice conversion"), ("diffhiervc", "diff-hiervc", "voice conversion"),
          ("dddmvc", "dddm-vc", "voice conversion"), ("YourTTS", "yourtts", "voice conversion"),
          ("HierVST", "hiervst", "voice conversion"))],
    Rule(HIER, ("audio/3_mega/hierspeech_for_megatts/*.wav",), "fake", "hierspeechpp", "en",
         note="cartoon prompts from the Mega-TTS demo (left out)"),
    # -- MobileSpeech (2024) --------------------------------------------------------------
    Rule(MOBILE, ("assets/audios/waves/*/gtexample.wav",), "real", "bonafide", "en",
         key=r"waves/(\d+)/", prompt="mobile-{0}", note="LibriSpeech test-clean, same speaker as the clone"),
    Rule(MOBILE, ("assets/audios/waves/*/mobilespeech.wav",), "fake", "mobilespeech", "en",
         key=r"waves/(\d+)/", prompt="mobile-{0}"),
    Rule(MOBILE, ("assets/audios/spk_*_infer.wav", "assets/audios/good_spk_*.wav"), "fake", "mobilespeech",
         "zh", note="Chinese outputs"),
    # -- UniAudio (2023-24) -------------------------------------------------------------
    Rule(UNIAUDIO, ("zero_shot_tts/ref/*.wav",), "real", "bonafide", "en", key=r"tts_(\d+-\d+-\d+)",
         prompt="ls-{0}", note="prompt (LibriSpeech / LibriTTS test-clean)"),
    Rule(UNIAUDIO, ("zero_shot_tts/gt/*.wav", "zero_shot_tts/long/gt/*.wav"), "real", "bonafide", "en",
         key=r"tts_(\d+-\d+-\d+)", prompt="ls-{0}", note="LibriSpeech test-clean"),
    Rule(UNIAUDIO, ("zero_shot_tts/gen/*.wav", "zero_shot_tts/long/gen/*.wav"), "fake", "uniaudio", "en",
         key=r"tts_(\d+-\d+-\d+)", prompt="ls-{0}"),
    Rule(UNIAUDIO, ("zero_shot_vc/source/*.wav", "zero_shot_vc/prompt/*.wav", "zero_shot_vc/gt/*.wav"),
         "real", "bonafide", "en", key=r"/([^/]+)\.wav$", prompt="uvc-{0}", note="VCTK"),
    Rule(UNIAUDIO, ("zero_shot_vc/gen/*.wav",), "fake", "uniaudio", "en", key=r"/([^/]+)\.wav$",
         prompt="uvc-{0}", note="voice conversion"),
    Rule(UNIAUDIO, ("ITTS/gen/*.wav",), "fake", "uniaudio", "en", note="instructed TTS"),
    # -- SimpleSpeech 2 (2024) ------------------------------------------------------------
    Rule(SS2, ("compare_baseline_mos/ref2/*.wav",), "real", "bonafide", "en", key=r"/([^/]+)\.wav$",
         prompt="cv-{0}", note="Common Voice prompt"),
    Rule(SS2, ("compare_baseline_mos/gt/*.wav",), "real", "bonafide", "en", key=r"/([^/]+)\.wav$",
         prompt="cv-{0}", note="Common Voice ground truth"),
    # Its VoiceCraft folder is left out: that system is one the independent evaluation
    # holds, and a detector fitted on its outputs would not be judged on an unseen system.
    *[Rule(SS2, (f"compare_baseline_mos/{folder}/*.wav",), "fake", system, "en", key=r"/([^/]+)\.wav$",
           prompt="cv-{0}", note=note)
      for folder, system, note in (
          ("simplespeech2", "simplespeech2", ""), ("HierSpeechpp", "hierspeechpp", "run by the SS2 authors"),
          ("chattts", "chattts", "run by the SS2 authors"), ("xTTS", "xtts", "run by the SS2 authors"),
          ("vallex", "vall-e-x", "run by the SS2 authors"),
          ("valle", "vall-e", "reproduction run by the SS2 authors (Common Voice prompts)"),
          ("ns2", "naturalspeech2", "reproduction run by the SS2 authors (Common Voice prompts)"),
          ("ns3", "naturalspeech3", "reproduction run by the SS2 authors (Common Voice prompts)"))],
    Rule(SS2, ("cn/prompt/*.wav",), "real", "bonafide", "zh", key=r"/(\d+)\.wav$", prompt="ss2cn-{0}"),
    Rule(SS2, ("cn/gen/*.wav",), "fake", "simplespeech2", "zh", key=r"/(\d+)\.wav$", prompt="ss2cn-{0}"),
    Rule(SS2, ("cn/chattts/*.wav",), "fake", "chattts", "zh", key=r"/(\d+)\.wav$", prompt="ss2cn-{0}"),
    # -- F5-TTS (2024) ---------------------------------------------------------------------
    Rule(F5, ("F5-TTS/audios/zero_shot/*_gen_*.wav",), "fake", "f5-tts", "",
         key=r"(seedtts_ref_(?:en|zh)_\d)", prompt="{0}", lang_key=r"_gen_([a-z_]+)\.wav$",
         note="Seed-TTS demo prompt (left out)"),
    Rule(F5, ("F5-TTS/audios/emotion/*_f5tts.wav",), "fake", "f5-tts", "en",
         note="RAVDESS prompt shared with the E2 TTS demo (left out)"),
    Rule(F5, ("F5-TTS/audios/robustness/*_gen.wav",), "fake", "f5-tts", "", key=r"/(\w+_\d+)_gen",
         prompt="f5-{0}", lang_key=r"/(ellv|robust)_", note="hard sentences"),
    Rule(F5, ("F5-TTS/audios/robustness/ellv_*_ref.wav",), "real", "bonafide", "en", key=r"/(\w+_\d+)_ref",
         prompt="f5-{0}", note="LibriSpeech-PC test-clean"),
    Rule(F5, ("F5-TTS/audios/speed_control/speed_control_[12]_*x.wav",), "fake", "f5-tts", "en",
         note="speed control; prompts from the Seed-TTS demo (left out)"),
    Rule(F5, ("F5-TTS/audios/speed_control/speed_control_[34]_*x.wav",), "fake", "f5-tts", "zh",
         note="speed control; prompts from the Seed-TTS demo (left out)"),
    # -- ZipVoice (2025) -------------------------------------------------------------------
    Rule(ZIPVOICE, ("audios/zero_shot/*_gen_*_zipvoice.wav",), "fake", "zipvoice", "",
         key=r"(seedtts_ref_(?:en|zh)_\d)", prompt="{0}", lang_key=r"_gen_([a-z]+)_",
         note="Seed-TTS demo prompt (left out)"),
    Rule(ZIPVOICE, ("audios/zero_shot/*_gen_*_zipvoice_distill.wav",), "fake", "zipvoice-distill", "",
         key=r"(seedtts_ref_(?:en|zh)_\d)", prompt="{0}", lang_key=r"_gen_([a-z]+)_",
         note="Seed-TTS demo prompt (left out)"),
    # -- Seed-VC (Plachtaa, 2024) ----------------------------------------------------------
    Rule(SEEDVC, ("seed-vc/demos/sources/s[5-9].wav", "seed-vc/demos/references/s[5-8]p1.wav"), "real",
         "bonafide", "und", note="source and timbre prompt (origin not stated)"),
    Rule(SEEDVC, ("seed-vc/demos/converted/*.wav",), "fake", "seed-vc", "und",
         exclude=("*sing*", "*世界还小*"), key=r"converted/(?:source_)?s\d_(\w+?)(?:_[\d.]+)?\.wav$",
         prompt="seedvc-{0}", note="voice conversion"),
    # -- FreeVC (2022) ---------------------------------------------------------------------
    Rule(FREEVC, ("data/wavs/*.wav",), "real", "bonafide", "en", key=r"/([^/]+)\.wav$",
         prompt="freevc-{0}", note="VCTK (seen) and LibriTTS (unseen) speakers"),
    *[Rule(FREEVC, (f"data/{folder}/*/*.wav",), "fake", system, "en", key=r"-([^/]+?)(?:_gen)?\.wav$",
           prompt="freevc-{0}", note=f"voice conversion{note}")
      for folder, system, note in (
          ("freevc", "freevc", ""), ("freevc-spk", "freevc", " (FreeVC-s)"),
          ("freevc-sr", "freevc", " (FreeVC w/o SR)"), ("vqmivc", "vqmivc", ""),
          ("yourtts", "yourtts", ""), ("bne-ppg-vc", "bne-ppg-vc", ""))],
    # -- ZET-Speech (Interspeech 2023) ----------------------------------------------------
    Rule(ZET, ("static/wavs/wavs_seen_kor/*/ref.wav", "static/wavs/wavs_unseen_kor/*/ref.wav"), "real",
         "bonafide", "ko", key=r"/([^/]+)/ref\.wav$", prompt="zet-{0}"),
    Rule(ZET, ("static/wavs/wavs_unseen_eng/*/ref.wav",), "real", "bonafide", "en",
         key=r"/([^/]+)/ref\.wav$", prompt="zet-{0}", note="LibriTTS"),
    Rule(ZET, ("static/wavs/wavs_seen_kor/*/*.wav", "static/wavs/wavs_unseen_kor/*/*.wav"), "fake",
         "zet-speech", "ko", exclude=("*/ref.wav",), key=r"/([^/]+)/[^/]+\.wav$", prompt="zet-{0}",
         note="emotional zero-shot TTS"),
    Rule(ZET, ("static/wavs/wavs_unseen_eng/*/*.wav",), "fake", "zet-speech", "en", exclude=("*/ref.wav",),
         key=r"/([^/]+)/[^/]+\.wav$", prompt="zet-{0}", note="emotional zero-shot TTS"),
    # -- Koel-TTS (NVIDIA, 2025) ----------------------------------------------------------
    Rule(KOEL, ("audio/*_context.wav",), "real", "bonafide", "en", key=r"audio/(\w+?)_context",
         prompt="koel-{0}"),
    Rule(KOEL, ("audio/*_generated*.wav", "audio/*_predicted.wav"), "fake", "koel-tts", "en",
         key=r"audio/(\w+?)_(?:generated|predicted)", prompt="koel-{0}"),
    Rule(KOEL, ("audio/lindy_*.wav", "audio/rodney_*.wav", "audio/*podcast*.wav"), "fake", "koel-tts", "",
         lang_key=r"_(spanish|italian)_", note="synthetic context prompt (left out)"),
]

LANG = {"dutch": "nl", "english": "en", "french": "fr", "german": "de", "italian": "it", "polish": "pl",
        "portuguese": "pt", "spanish": "es", "en": "en", "zh": "zh", "code_switch": "zh-en",
        "ellv": "en", "robust": "zh"}


def ls_tree(gitdir: Path, commit: str) -> list[str]:
    out = subprocess.run(["git", f"--git-dir={gitdir}", "-c", "core.quotepath=off", "ls-tree", "-r",
                          "--name-only", commit], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def mono(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1) if x.ndim > 1 else x


def envelope(x: np.ndarray, sr: int) -> np.ndarray:
    """Log energy in 20 ms frames: the same at any sample rate, so a 16 kHz copy matches."""
    hop = sr // FPS
    n = len(x) // hop
    return np.log(np.square(x[: n * hop].reshape(n, hop)).mean(axis=1) + 1e-8)


def zscore(m: np.ndarray) -> np.ndarray:
    return (m - m.mean(axis=-1, keepdims=True)) / (m.std(axis=-1, keepdims=True) + 1e-9)


def used_windows(used: Path) -> np.ndarray:
    """Two 1.5 s envelope windows of every clip the project already uses, as columns."""
    cols = []
    for f in sorted(p for p in used.rglob("*") if p.suffix in (".flac", ".wav")):
        x, sr = sf.read(f, dtype="float32")
        e = envelope(mono(x), sr)
        if len(e) < WINDOW + 5:
            continue
        for off in (0, len(e) // 2 - WINDOW // 2):
            cols.append(zscore(e[off:off + WINDOW]))
    return np.array(cols, dtype=np.float32).T / WINDOW


def already_used(x: np.ndarray, sr: int, bank: np.ndarray) -> bool:
    e = envelope(x, sr)
    if bank.size == 0 or len(e) < WINDOW:
        return False
    win = zscore(np.lib.stride_tricks.sliding_window_view(e, WINDOW)).astype(np.float32)
    return bool((win @ bank).max() >= MATCH)


def matches(rule: Rule, path: str) -> bool:
    return (any(fnmatch.fnmatch(path, p) for p in rule.include)
            and not any(fnmatch.fnmatch(path, p) for p in rule.exclude))


def describe(rule: Rule, path: str) -> tuple[str, str]:
    prompt = ""
    if rule.key and (m := re.search(rule.key, path)):
        prompt = rule.prompt.format(*m.groups())
    language = rule.language
    if rule.lang_key:
        m = re.search(rule.lang_key, path)
        language = LANG.get(m.group(1), m.group(1)) if m else (language or "en")
    return prompt, language


def build(repos: Path, used: Path | None) -> tuple[list[Row], Counter[str]]:
    bank = used_windows(used) if used else np.zeros((WINDOW, 0), dtype=np.float32)
    report: Counter[str] = Counter()
    rows: list[Row] = []
    seen: set[str] = set()
    pages = list(dict.fromkeys(r.page for r in RULES))
    for page in pages:
        gitdir = git_dir(repos, page.repo)
        paths = [p for p in ls_tree(gitdir, page.commit) if p.lower().endswith(AUDIO_EXT)]
        todo: list[tuple[Rule, str]] = []
        for rule in (r for r in RULES if r.page == page):
            todo += [(rule, p) for p in paths if matches(rule, p)]
        specs = [f"{page.commit}:{p}" for _, p in todo]
        for (rule, path), data in zip(todo, read_blobs(gitdir, specs), strict=True):
            if data is None:
                report["missing"] += 1
                continue
            sha = hashlib.sha256(data).hexdigest()
            if sha in seen:
                report["duplicate bytes"] += 1
                continue
            try:
                x, sr = sf.read(io.BytesIO(data), dtype="float32")
            except Exception:
                report["decode failure"] += 1
                continue
            x = mono(x)
            seconds = len(x) / sr
            if seconds < MIN_SECONDS:
                report["under 1 s"] += 1
                log.debug("under 1 s: %s:%s", page.repo, path)
                continue
            if already_used(x, sr, bank):
                report["already in shared/data/speech"] += 1
                log.debug("already used: %s:%s", page.repo, path)
                continue
            seen.add(sha)
            prompt, language = describe(rule, path)
            rows.append(Row(page.repo, page.commit, path, sha, rule.label, rule.system, page.repo,
                            page.family, prompt, language, round(seconds, 3), sr, page.licence,
                            page.non_commercial, rule.note))
    return rows, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repos", type=Path, required=True, help="bare mirrors (REPOS/owner+name)")
    ap.add_argument("--used", type=Path, default=None, help="speech data already used (shared/data/speech)")
    ap.add_argument("--out", type=Path, default=MANIFEST)
    a = ap.parse_args()
    rows, report = build(a.repos, a.used)
    write_rows(rows, Row, a.out)
    print(", ".join(f"{k}: {v}" for k, v in sorted(report.items())))
    count: Counter[tuple[str, str]] = Counter()
    secs: Counter[tuple[str, str]] = Counter()
    for r in rows:
        count[(r.repo, r.label)] += 1
        secs[(r.repo, r.label)] += r.seconds
    for (repo, label), n in sorted(count.items()):
        print(f"{label:5s} {n:5d} {secs[(repo, label)] / 60:7.1f} min  {repo}")
    print(f"{len(rows)} files: {sum(r.label == 'real' for r in rows)} real, "
          f"{sum(r.label == 'fake' for r in rows)} fake, {sum(r.seconds for r in rows) / 3600:.2f} h")


if __name__ == "__main__":
    main()
