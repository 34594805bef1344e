"""Same windows as feats.npz, features of the telephone-band (300-3400 Hz, 8 kHz) version."""

import json
import time
from pathlib import Path

import numpy as np
import torch

from fakescope.analyzers.speech import analyse_window, windows
from fakescope.analyzers.whisper_mel import log_mel
from fakescope.synth.voice import telephone
from fakescope.train.whisper_encoder import WhisperEncoder, model_file

torch.set_num_threads(1)
ents = json.loads(Path("runs/vexp/entries.json").read_text())
enc = WhisperEncoder.from_ct2(model_file()).eval()
W = []
t0 = time.time()
n = 0
for i, _e in enumerate(ents):
    z = np.load(f"runs/vexp/waves/{i}.npz")
    for v in range(3):
        x = z[f"arr_{v}"].astype(np.float32) / 32767
        xt = telephone(x)
        sp = [
            (w, wt)
            for w, wt in zip(windows([x]), windows([xt]), strict=False)
            if analyse_window(w.samples, w.valid).speech
        ]
        if not sp:
            continue
        with torch.no_grad():
            outs = enc(torch.from_numpy(np.stack([log_mel(wt.samples) for _, wt in sp])))
        W.append(torch.cat([torch.cat([o.mean(1), o.std(1)], 1) for o in outs], 1).numpy().astype(np.float16))
    if i % 200 == 0:
        print(i, time.time() - t0, flush=True)
np.save("runs/vexp/feats_tel.npy", np.concatenate(W))
print("done", sum(len(w) for w in W))
