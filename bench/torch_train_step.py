#!/usr/bin/env python3
"""One Conv-cut training step in tuned PyTorch (CPU): the baseline for convcut's TypeScript trainers.

Each case is one full step, the same work a convcut training step does: forward in training mode
(dropout p=0.1 active, BatchNorm batch statistics), class-weighted cross-entropy (Keras
`class_weight`: mean over the batch of weight·loss), backward, clip_grad_norm_(3.0), Adam (lr 1e-3,
eps 1e-7), zero_grad(set_to_none=True). Inputs are random and fixed; weights are random.
  head        batch 16: cut features (16, 512, 14, 14) → Conv-cut head (default config: Detail
              Extraction Block, token attention, dropouts, Dense 32 + ReLU, BatchNorm, Dense 7).
  cut_block   batch 16: output of block 22 → block 23's depthwise 7×7 conv + LayerNorm → head.
  two_blocks  batch 16: output of block 21 → block 22 whole + block 23 partial → head.
  all         batch 8:  images (8, 3, 224, 224), 0..255 → ImageNet normalisation → the whole
              truncated backbone (as bench/torch_backbone.py builds it), all trainable → head.
Backbone blocks are torchvision's own code (convnext_base().features for `all`; for the block cases
the same CNBlock class built alone), with stochastic depth off (torchvision's default for Base is
0.5; convcut has none). Timing: 2 warm-up steps, then the
median and the minimum of --reps steps, in ms. Each case runs in a fresh subprocess of this
script (--child CASE) so that its peak RSS (ru_maxrss, MB) is its own. Prints JSON.
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_train_step.py --reps 5 \
        [--cases head,cut_block,two_blocks,all]
Tuned as SPEC §5 says: 2 threads, OMP_WAIT_POLICY=PASSIVE, libopenblas0-pthread installed.
--device cuda (bench/gpu.ts): the same steps in fp32 on the GPU (cuDNN autotuned; loss.item() synchronises
each step); peak memory is then torch.cuda.max_memory_allocated.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import convnext_base
from torchvision.models.convnext import CNBlock

CASES = ["head", "cut_block", "two_blocks", "all"]
BATCH = {"head": 16, "cut_block": 16, "two_blocks": 16, "all": 8}
CLASSES = 7
DROPOUT = 0.1


class SeparableConv(nn.Module):
    """Keras SeparableConv2D: depthwise conv (multiplier 1, no bias), 1×1 conv with bias, ReLU."""

    def __init__(self, cin, cout, k, pad):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, k, stride=k, padding=pad, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return F.relu(self.pointwise(self.depthwise(x)))


class TokenAttention(nn.Module):
    """Per-image self-attention over the H×W tokens, with q/k/v/out projections and a residual."""

    def __init__(self, c):
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(c, c) for _ in range(4))
        self.scale = c ** -0.5

    def forward(self, x):  # (N, C, H, W)
        n, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (N, HW, C)
        weights = torch.softmax(self.q(t) @ self.k(t).transpose(1, 2) * self.scale, dim=-1)
        t = t + self.out(weights @ self.v(t))
        return t.transpose(1, 2).reshape(n, c, h, w)


class Head(nn.Module):
    """convcut's default head (src/model/head.ts with makeConfig() defaults), NCHW input."""

    def __init__(self, cin=512, filters=256, hidden=32, classes=CLASSES, p=DROPOUT):
        super().__init__()
        # k4 s4 TF-'same' on 14×14: 4 outputs, total pad 2, TF puts the odd pixel at the end → 1/1.
        self.sep1 = SeparableConv(cin, filters, 4, 1)
        self.sep2 = SeparableConv(filters, filters, 2, 0)
        self.attention = TokenAttention(filters)
        self.spatial_dropout = nn.Dropout2d(p)
        self.dropout1 = nn.Dropout(p)
        self.fc = nn.Linear(filters, hidden)
        self.bn = nn.BatchNorm1d(hidden, eps=1e-3, momentum=0.01)  # Keras momentum 0.99
        self.dropout2 = nn.Dropout(p)
        self.classifier = nn.Linear(hidden, classes)

    def forward(self, x):
        x = self.attention(self.sep2(self.sep1(x)))
        x = self.dropout1(self.spatial_dropout(x).mean(dim=(2, 3)))
        x = self.bn(F.relu(self.fc(x)))
        return self.classifier(self.dropout2(x))


class ToNCHW(nn.Module):
    """torchvision's block ends mid-block channels-last (after its LayerNorm): back to NCHW."""

    def forward(self, x):
        return x.permute(0, 3, 1, 2)


class Normalise(nn.Module):
    """0..255 RGB → ImageNet normalisation, as Keras (and convcut) put it inside the model."""

    def __init__(self):
        super().__init__()
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        self.register_buffer("mul", 1 / (255 * std))
        self.register_buffer("add", -mean / std)

    def forward(self, x):
        return x * self.mul + self.add


def build(case):
    """(model, input) for one case; the model is in training mode and every parameter trains."""
    b = BATCH[case]
    if case == "head":
        return Head(), torch.randn(b, 512, 14, 14)
    if case == "all":
        f = convnext_base(stochastic_depth_prob=0.0).features
        stage2 = f[5]
    else:
        # The same CNBlock(512, layer_scale 1e-6) that convnext_base() puts at features[5][i], built
        # alone so that this case's peak RSS does not include a whole unused ConvNeXt-Base (350 MB).
        stage2 = {22: CNBlock(512, 1e-6, 0.0), 23: CNBlock(512, 1e-6, 0.0)}
    blk23 = stage2[23].block
    partial23 = [blk23[0], blk23[1], blk23[2], ToNCHW()]  # dw conv, permute, LayerNorm, back
    if case == "cut_block":
        body, x = partial23, torch.randn(b, 512, 14, 14)
    elif case == "two_blocks":
        body, x = [stage2[22], *partial23], torch.randn(b, 512, 14, 14)
    else:
        body = [Normalise(), f[0], f[1], f[2], f[3], f[4], *[stage2[i] for i in range(23)], *partial23]
        x = torch.rand(b, 3, 224, 224) * 255
    return nn.Sequential(*body, Head()), x


def child(case, reps, device):
    torch.set_num_threads(2)
    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    dev = torch.device(device)
    model, x = build(case)
    model.train().to(dev)
    x = x.to(dev)
    b = x.shape[0]
    y = torch.randint(0, CLASSES, (b,)).to(dev)
    class_weights = (torch.rand(CLASSES) + 0.5).to(dev)  # stands in for balanced class weights
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = (F.cross_entropy(logits, y, reduction="none") * class_weights[y]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 3.0)
        opt.step()
        return loss.item()

    for _ in range(2):
        step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        loss = step()
        times.append(1000 * (time.perf_counter() - t))
    return {
        "case": case,
        "batch": b,
        "params": sum(p.numel() for p in params),
        "ms_median": statistics.median(times),
        "ms_min": min(times),
        "loss": loss,
        "peak_rss_mb": (torch.cuda.max_memory_allocated() / 2**20 if device == "cuda"
                        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),  # KB on Linux
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--child", choices=CASES, help=argparse.SUPPRESS)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.reps, a.device)))
        return
    cases = [c.strip() for c in a.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            p.error(f"unknown case {c!r}; choose from {','.join(CASES)}")
    torch.set_num_threads(2)
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "reps": a.reps,
           "ms_per_step": {}, "ms_per_step_min": {}, "batch": {}, "params": {}, "peak_rss_mb": {}}
    for c in cases:
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", c, "--reps", str(a.reps), "--device", a.device],
                           check=True, stdout=subprocess.PIPE, text=True)
        res = json.loads(r.stdout.strip().splitlines()[-1])
        out["ms_per_step"][c] = round(res["ms_median"], 1)
        out["ms_per_step_min"][c] = round(res["ms_min"], 1)
        out["batch"][c] = res["batch"]
        out["params"][c] = res["params"]
        out["peak_rss_mb"][c] = round(res["peak_rss_mb"], 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
