#!/usr/bin/env python3
"""Truncated ConvNeXt-Base (the Conv-cut backbone) in PyTorch: timing, and optionally an ONNX export.

Called by bench/backbone.ts so both engines are measured in the same script run. Prints JSON.
    python3 bench/torch_backbone.py --reps 5 [--export cut.onnx]
Tuned as SPEC §5 says: run with OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE and libopenblas0-pthread installed.
--device cuda (bench/gpu.ts): the same network in fp32 on the GPU, cuDNN autotuned, synchronised around each timing.
"""
import argparse
import json
import time

import torch
from torch import nn
from torchvision.models import convnext_base

p = argparse.ArgumentParser()
p.add_argument("--reps", type=int, default=5)
p.add_argument("--export")
p.add_argument("--batches", default="1,8")
p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
a = p.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)
dev = torch.device(a.device)
torch.backends.cudnn.benchmark = True


def sync():
    if a.device == "cuda":
        torch.cuda.synchronize()


m = convnext_base().eval()
f = m.features
stage2 = f[5]
blk23 = stage2[23].block
cut = nn.Sequential(f[0], f[1], f[2], f[3], f[4], *[stage2[i] for i in range(23)], blk23[0], blk23[1], blk23[2]).eval().to(dev)
params = sum(p.numel() for p in cut.parameters())

out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "params": params, "ms_per_image": {},
       "device_name": torch.cuda.get_device_name() if a.device == "cuda" else "cpu"}
with torch.no_grad():
    for b in [int(x) for x in a.batches.split(",")]:
        x = torch.rand(b, 3, 224, 224, device=dev)
        for _ in range(3 if a.device == "cuda" else 1):
            cut(x)  # warm-up (and cuDNN's autotuning)
        best = float("inf")
        for _ in range(a.reps):
            sync()
            t = time.perf_counter()
            cut(x)
            sync()
            best = min(best, time.perf_counter() - t)
        out["ms_per_image"][str(b)] = 1000 * best / b
    if a.export:
        torch.onnx.export(cut.cpu(), torch.rand(1, 3, 224, 224), a.export, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=17)
print(json.dumps(out))
