"""Same windows as feats.npz; log-mel equalised per window (each band's time mean replaced by a
reference speech profile) before the encoder: the channel's frequency response removed."""

import json
import time
from pathlib import Path

import numpy as np
import torch

from fakescope.analyzers.speech import analyse_window, windows
from fakescope.analyzers.whisper_mel import log_mel
from fakescope.train.whisper_encoder import WhisperEncoder, model_file

torch.set_num_threads(2)
ents = json.loads(Path("runs/vexp/entries.json").read_text())
enc = WhisperEncoder.from_ct2(model_file(), layers=2).eval()
prof = []
for i, e in enumerate(ents):
    if e["corpus"] == "librispeech":
        x = np.load(f"runs/vexp/waves/{i}.npz")["arr_0"].astype(np.float32) / 32767
        for w in windows([x]):
            if analyse_window(w.samples, w.valid).speech:
                prof.append(log_mel(w.samples).mean(1))
ref = np.mean(prof, 0)
np.save("runs/vexp/ref_profile.npy", ref)
W = []
t0 = time.time()
for i in range(len(ents)):
    z = np.load(f"runs/vexp/waves/{i}.npz")
    for v in range(3):
        x = z[f"arr_{v}"].astype(np.float32) / 32767
        sp = [w for w in windows([x]) if analyse_window(w.samples, w.valid).speech]
        if not sp:
            continue
        m = np.stack([log_mel(w.samples) for w in sp])
        m = m - m.mean(2, keepdims=True) + ref[None, :, None]
        with torch.no_grad():
            outs = enc(torch.from_numpy(m.astype(np.float32)))
        W.append(torch.cat([torch.cat([o.mean(1), o.std(1)], 1) for o in outs], 1).numpy().astype(np.float16))
    if i % 200 == 0:
        print(i, time.time() - t0, flush=True)
np.save("runs/vexp/feats_eq.npy", np.concatenate(W))
print("done", sum(len(w) for w in W))
