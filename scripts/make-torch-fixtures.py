#!/usr/bin/env python3
"""Reference fixtures for convcut's parity tests, computed by torchvision's ConvNeXt.

Run with Debian's python3-torch / python3-torchvision (the product itself never needs Python):
    python3 scripts/make-torch-fixtures.py test/fixtures/torchvision
Writes, for convcut's `test` backbone (depths 1,1,5,1; dims 8,16,32,64) with random weights:
  torchvision.safetensors   the whole torchvision state dict (incl. stage 3 and classifier)
  timm.safetensors          the same weights under timm's names
  images.npy                3 RGB images, 64×64, integer values 0..255 (N,H,W,C float32)
  cut_layernorm.npy         output at stage_2_block_1_layernorm (N,H,W,C): dw conv + LN of block 1
  cut_stage2.npy            output at the end of stage 2 (N,H,W,C)
"""
import os
import sys

import numpy as np
import torch
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

from safetensors_file import save_safetensors

torch.manual_seed(0)
out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/torchvision"
os.makedirs(out_dir, exist_ok=True)

dims, depths = [8, 16, 32, 64], [1, 1, 5, 1]
settings = [CNBlockConfig(dims[i], dims[i + 1] if i < 3 else None, depths[i]) for i in range(4)]
model = ConvNeXt(settings, stochastic_depth_prob=0.0, layer_scale=1e-6, num_classes=10).eval()
with torch.no_grad():
    for name, p in model.named_parameters():
        # Random everything, layer scale and LayerNorm included, so no term can hide behind 1e-6.
        p.copy_(torch.randn_like(p) * (0.5 if "layer_scale" in name or "weight" not in name else 0.2))

# Integer pixel values, so the images survive a PNG round trip in the CLI test.
images = torch.randint(0, 256, (3, 64, 64, 3)).float()
mean = torch.tensor([0.485, 0.456, 0.406])
std = torch.tensor([0.229, 0.224, 0.225])
x = ((images / 255 - mean) / std).permute(0, 3, 1, 2)

with torch.no_grad():
    f = model.features
    y = x
    for i in range(5):  # stem, stage 0, downsample, stage 1, downsample
        y = f[i](y)
    stage2 = f[5]
    y = stage2[0](y)  # block 0, whole
    blk = stage2[1].block  # block 1: [dw conv, permute, LN, fc1, GELU, fc2, permute]
    cut_ln = blk[2](blk[1](blk[0](y)))  # NHWC already
    end2 = f[5](f[4](f[3](f[2](f[1](f[0](x))))))

np.save(os.path.join(out_dir, "images.npy"), images.numpy().astype(np.float32))
np.save(os.path.join(out_dir, "cut_layernorm.npy"), cut_ln.numpy().astype(np.float32))
np.save(os.path.join(out_dir, "cut_stage2.npy"), end2.permute(0, 2, 3, 1).numpy().astype(np.float32))


sd = model.state_dict()
save_safetensors(os.path.join(out_dir, "torchvision.safetensors"), sd)

# timm names: stem.{0,1}, stages.{s}.downsample.{0,1}, stages.{s}.blocks.{b}.{conv_dw,norm,mlp.fc1,mlp.fc2,gamma}
timm = {}
stage_of = {1: 0, 3: 1, 5: 2, 7: 3}
down_of = {2: 1, 4: 2, 6: 3}
sub = {"0": "conv_dw", "2": "norm", "3": "mlp.fc1", "5": "mlp.fc2"}
for k, v in sd.items():
    p = k.split(".")
    if p[0] == "classifier":
        timm["head." + {"0": "norm", "2": "fc"}[p[1]] + "." + p[2]] = v
    elif p[1] == "0":
        timm[f"stem.{p[2]}.{p[3]}"] = v
    elif int(p[1]) in down_of:
        timm[f"stages.{down_of[int(p[1])]}.downsample.{p[2]}.{p[3]}"] = v
    else:
        s, b = stage_of[int(p[1])], p[2]
        if p[3] == "layer_scale":
            timm[f"stages.{s}.blocks.{b}.gamma"] = v.reshape(-1)
        else:
            timm[f"stages.{s}.blocks.{b}.{sub[p[4]]}.{p[5]}"] = v
save_safetensors(os.path.join(out_dir, "timm.safetensors"), timm)
print("wrote", out_dir, "torch", torch.__version__, "cut", tuple(cut_ln.shape), "stage2", tuple(end2.shape))
