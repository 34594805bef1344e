import collections
import json
from pathlib import Path

import numpy as np

from fakescope.analyzers.speech import analyse_window, windows

ents = json.loads(Path("runs/vexp/entries.json").read_text())
Z = np.load("runs/vexp/feats.npz")
idx = Z["idx"]
base = collections.Counter(map(tuple, idx.tolist()))
cnt = {}
for i, _e in enumerate(ents):
    z = np.load(f"runs/vexp/waves/{i}.npz")
    for v in range(3):
        x = z[f"arr_{v}"].astype(np.float32) / 32767
        n = sum(1 for w in windows([x]) if analyse_window(w.samples, w.valid).speech)
        if n:
            cnt[(i, v)] = n
bad = [k for k in set(base) | set(cnt) if base.get(k, 0) != cnt.get(k, 0)]
print("mismatch", bad, [(base.get(k), cnt.get(k)) for k in bad])
# tel rows in order of cnt keys (same iteration order as build_tel)
keep_base = np.array([tuple(r) not in bad for r in idx.tolist()])
tel_keys = [k for k in cnt for _ in range(cnt[k])]
keep_tel = np.array([k not in bad for k in tel_keys])
np.save("runs/vexp/keep_base.npy", keep_base)
np.save("runs/vexp/keep_tel.npy", keep_tel)
print(keep_base.sum(), keep_tel.sum())
