"""Leave-one-page-out on speech/tts (+ vc as its own fold): compare back-ends."""

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fakescope.evaluation.metrics import auc, eer

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="mlp")
ap.add_argument("--epochs", type=int, default=30)
ap.add_argument("--no-pseudo", action="store_true")
ap.add_argument("--no-tts", action="store_true", help="no speech/tts in training at all")
ap.add_argument("--out", default="runs/vexp/lopo")
ap.add_argument("--layers", default="3")
ap.add_argument("--feats", default="base")
ap.add_argument("--wsys", action="store_true")
ap.add_argument("--wd", type=float, default=1e-2)
ap.add_argument("--steps", type=int, default=0)
ap.add_argument("--tel", default="off", choices=["off", "aug", "always"])
ap.add_argument("--tel-p", type=float, default=0.3)
a = ap.parse_args()
torch.set_num_threads(2)
Z = np.load("runs/vexp/feats.npz")
ents = json.loads(Path("runs/vexp/entries.json").read_text())
idx = Z["idx"]
kb = np.load("runs/vexp/keep_base.npy")
kt = np.load("runs/vexp/keep_tel.npy")
Xt = None
if a.model == "cnn":
    X = Z["cnn"].astype(np.float32)
else:
    L = [int(v) for v in a.layers.split(",")]
    W = Z["whisper"][kb] if a.feats == "base" else np.load(f"runs/vexp/feats_{a.feats}.npy")[kt]
    idx = idx[kb]
    X = np.concatenate([W[:, 768 * layer : 768 * (layer + 1)] for layer in L], 1).astype(np.float32)
    if a.tel != "off":
        T = np.load("runs/vexp/feats_tel.npy")[kt]
        Xt = np.concatenate([T[:, 768 * layer : 768 * (layer + 1)] for layer in L], 1).astype(np.float32)
        if a.tel == "always":
            X, Xt = Xt, None
ei, ver = idx[:, 0], idx[:, 1]
lab = np.array([e["label"] for e in ents])


def h(s):
    return int(hashlib.sha1(s.encode()).hexdigest()[:6], 16)


PAGES = [*sorted({e["page"] for e in ents if e["corpus"] == "tts"}), "vc"]
fold_of = {}
for i, e in enumerate(ents):
    if e["corpus"] in ("tts", "vc"):
        fold_of[i] = PAGES.index(e["page"])
    elif e["corpus"] == "librispeech" or (e["corpus"] == "pseudo" and e["group"].startswith("ls:")):
        fold_of[i] = h(e["group"]) % len(PAGES)
    elif e["corpus"] == "pseudo" and e["group"].startswith("vc:"):
        fold_of[i] = PAGES.index("vc")
    else:
        fold_of[i] = -1  # TTS pseudo: always train
fold = np.array([fold_of[i] for i in range(len(ents))])
systems_on = {p: {e["system"] for e in ents if e["page"] == p and e["label"] == 1} for p in PAGES}


def weights(tr_ents):
    # balance: reals by corpus equally, fakes: dataset spoofs 0.5, pseudo 0.5 (by system type equally)
    grp = []
    for i in tr_ents:
        e = ents[i]
        if e["label"] == 0:
            grp.append("R:" + e["corpus"] + (":" + e["page"] if a.wsys and e["corpus"] == "tts" else ""))
        elif a.wsys and e["corpus"] != "pseudo":
            grp.append("S:" + e["system"])
        elif e["corpus"] == "pseudo":
            grp.append(
                "P:" + e["system"].split(":")[0] + ("" if not e["system"].startswith("tts") else e["system"])
            )
        else:
            grp.append("S:" + e["corpus"])
    grp = np.array(grp)
    w = np.zeros(len(tr_ents))
    for side in ("R", "S", "P"):
        gs = sorted({g for g in grp if g.startswith(side)})
        share = {"R": 0.5, "S": 0.25, "P": 0.25}[side]
        if side == "S" and not gs:
            share = 0
        for g in gs:
            m = grp == g
            w[m] = share / len(gs) / m.sum()
    if not any(g.startswith("S") for g in grp):
        w[np.char.startswith(grp, "P")] *= 2
    return w


class MLP(nn.Module):
    def __init__(self, d, hid=128):
        super().__init__()
        self.net = (
            nn.Sequential(nn.Dropout(0.2), nn.Linear(d, hid), nn.GELU(), nn.Dropout(0.3), nn.Linear(hid, 1))
            if hid
            else nn.Linear(d, 1)
        )

    def forward(self, x):
        return self.net(x)


N_BANDS = 64


class VoiceNet(nn.Module):
    """Four conv blocks over (band, time); mean over time keeps *where in frequency* the
    evidence is (vocoder traces sit in particular bands), then one linear layer."""

    def __init__(self, chans: tuple[int, ...] = (1, 12, 24, 48, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(4):
            # A strided first layer: full-resolution maps cost most of the time on a CPU.
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 3, stride=2 if i == 0 else 1, padding=1, bias=False),
                nn.BatchNorm2d(chans[i + 1]),
                nn.ReLU(inplace=True),
            ]
            if 0 < i < 3:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(chans[-1] * (N_BANDS // 8), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x).mean(dim=3)  # (N, C, bands/8)
        return self.head(self.drop(h.flatten(1)))


def train(rows, seed=0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ew = weights(sorted(set(ei[rows])))
    ewm = dict(zip(sorted(set(ei[rows])), ew, strict=False))
    # per-window weight: entry weight / windows of that entry
    cnt = np.bincount(ei[rows], minlength=len(ents))
    p = np.array([ewm[ei[r]] / cnt[ei[r]] for r in rows])
    p /= p.sum()
    if a.model == "cnn":
        net = VoiceNet()
        mu = sd = None
        steps, bs, lr = 1500, 32, 2e-3
    else:
        mu = X[rows].mean(0)
        sd = X[rows].std(0) + 1e-4
        net = MLP(X.shape[1], 0 if a.model == "lin" else 128)
        steps, bs, lr = 3000, 128, 1e-3
    steps = a.steps or steps
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=a.wd)
    sch = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    lf = nn.BCEWithLogitsLoss()
    net.train()
    for _s in range(steps):
        b = rows[rng.choice(len(rows), bs, p=p)]
        if a.model == "cnn":
            xb = X[b].copy()
            xb -= xb.mean(axis=2, keepdims=True)
            for j in range(len(xb)):
                w = rng.integers(0, 8)
                f0 = rng.integers(0, 64 - w + 1)
                xb[j, f0 : f0 + w] = 0
                w = rng.integers(0, 20)
                t0 = rng.integers(0, 198 - w + 1)
                xb[j, :, t0 : t0 + w] = 0
            xb = torch.from_numpy(xb[:, None])
        else:
            xr = X[b]
            if Xt is not None:
                m = rng.random(len(b)) < a.tel_p
                xr = np.where(m[:, None], Xt[b], xr)
            xb = torch.from_numpy((xr - mu) / sd)
        loss = lf(net(xb), torch.from_numpy(lab[ei[b]].astype(np.float32))[:, None])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sch.step()
    net.eval()
    return net, mu, sd


def score(net, mu, sd, rows):
    with torch.no_grad():
        out = []
        for k in range(0, len(rows), 512):
            r = rows[k : k + 512]
            if a.model == "cnn":
                xb = X[r] - X[r].mean(axis=2, keepdims=True)
                xb = torch.from_numpy(xb[:, None])
            else:
                xb = torch.from_numpy((X[r] - mu) / sd)
            out.append(net(xb).numpy()[:, 0])
    return np.concatenate(out)


def file_logits(rows, wl):
    from fakescope.analyzers.voice import trimmed_mean

    d = {}
    for r, lg in zip(rows, wl, strict=False):
        d.setdefault((int(ei[r]), int(ver[r])), []).append(float(lg))
    return {k: trimmed_mean(v) for k, v in d.items()}


oof = {}
t0 = time.time()
for f, page in enumerate(PAGES):
    held_sys = systems_on[page]
    tr = np.array(
        [
            r
            for r in range(len(idx))
            if fold[ei[r]] != f
            and ents[ei[r]]["system"] not in held_sys
            and not (a.no_pseudo and ents[ei[r]]["corpus"] == "pseudo")
            and not (a.no_tts and ents[ei[r]]["corpus"] == "tts")
        ]
    )
    te = np.array([r for r in range(len(idx)) if fold[ei[r]] == f and ents[ei[r]]["corpus"] != "pseudo"])
    net, mu, sd = train(tr, seed=f)
    oof.update(file_logits(te, score(net, mu, sd, te)))
    torch.save(
        {
            "net": net.state_dict(),
            "mu": mu,
            "sd": sd,
            "layers": a.layers,
            "model": a.model,
            "page": page,
            "held_sys": sorted(held_sys),
        },
        f"{a.out}.fold{f}.pt",
    )
    print(f"fold {page}: train {len(tr)} test {len(te)} {time.time() - t0:.0f}s", flush=True)
Path(a.out + ".json").write_text(json.dumps({f"{k[0]}:{k[1]}": v for k, v in oof.items()}))


# report, clean version
def rep(v=0):
    keys = [k for k in oof if k[1] == v]
    res = {}
    for page in PAGES:
        ks = [k for k in keys if ents[k[0]]["page"] == page]
        y = np.array([lab[k[0]] for k in ks])
        s = np.array([oof[k] for k in ks])
        res[page] = (len(ks), int(y.sum()), auc(y, s), eer(y, s))
    return res


for v in (0, 1):
    print("version", v)
    for p, r in rep(v).items():
        print(f"  {p:45s} n={r[0]:3d} spoof={r[1]:3d} AUC {r[2]:.3f} EER {r[3]:.3f}")
    keys = [k for k in oof if k[1] == v and ents[k[0]]["corpus"] == "tts"]
    y = np.array([lab[k[0]] for k in keys])
    s = np.array([oof[k] for k in keys])
    print(f"  pooled tts: AUC {auc(y, s):.3f} EER {eer(y, s):.3f}")
# per system vs page reals (clean)
print("per system (vs reals of same page), clean:")
keys = [k for k in oof if k[1] == 0]
systems = sorted({ents[k[0]]["system"] for k in keys if lab[k[0]] == 1})
for sname in systems:
    sk = [k for k in keys if ents[k[0]]["system"] == sname]
    pages = {ents[k[0]]["page"] for k in sk}
    rk = [k for k in keys if lab[k[0]] == 0 and ents[k[0]]["page"] in pages]
    y = np.r_[np.ones(len(sk)), np.zeros(len(rk))]
    s = np.r_[[oof[k] for k in sk], [oof[k] for k in rk]]
    print(f"  {sname:22s} n={len(sk):3d} AUC {auc(y, s):.3f} EER {eer(y, s):.3f}")
