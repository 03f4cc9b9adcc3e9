#!/usr/bin/env python3
"""Reference fixtures for convcut's training-step graph, computed by PyTorch autograd in float64.

Run with Debian's python3-torch + python3-numpy (the product itself never needs Python):
    /usr/bin/python3 scripts/make-grad-fixtures.py test/fixtures/grad
The network is rebuilt here from torch ops, independently of src/model/* (whose parameter names,
shapes and channels-last layouts it uses): convcut's `test` ConvNeXt (depths 1,1,5,1; dims
8,16,32,64), cut `stage_2_block_1_layernorm`, 112×112 RGB input → 7×7×32 features, then the head
(Detail Extraction Block with 16 filters → 1×1×16, [head.norm], [token attention], spatial dropout,
global average pool, dropout, Dense(8)+ReLU, BatchNorm in training mode (Keras: biased batch
variance, eps 1e-3, momentum 0.99), [batch attention], dropout, Dense(3)), the class-weighted
softmax cross-entropy, and one Keras Adam step (from zero moments) with global-norm clipping.
Parameters and inputs are drawn as float32 values and cast to float64; everything is computed in
float64 and stored as float32.

Writes, one safetensors file per case:
  token.safetensors       head.layerNorm, attention 'token', N=4, soft targets, clip 3.0
  batch.safetensors       no head.norm, attention 'batch', N=5, one-hot targets, clip < ‖g‖
  token_head.safetensors  extra, head only (trained on cached features 13×13×32, i.e. input size
                          208), N=3, soft targets, clip 2·‖g‖ (inactive): the Detail Extraction
                          Block then gives 2×2 = 4 tokens, so the attention scores
                          (attention.q / attention.k) get non-zero gradients — with 112×112 input
                          the token case has ONE token and their gradients are exactly 0.
Each case is drawn from seeds 1000·k, 1000·k+1, ... until no ReLU input is within 1e-4 of 0, no
argmax is near a tie, every hidden unit is active for ≥ 2 images, and ‖g‖ is ≥ 5 % from the clip
(so a float32 engine runs the same branches); the seed used is in the metadata. The script also
checks its own autograd gradients by central finite differences (float64) and prints the checks.
Tensors in each file (F32, except `input/images`: F16, exact for the integers 0..255, to keep the
files small; src/weights/safetensors.ts reads F16 as float32):
  w/<name>            every parameter before the step (running statistics included)
  g/<name>            dLoss/dparam, every trainable parameter
  bn/head.bn.running_mean, bn/head.bn.running_var   the updated running statistics
  adam/<name>         the parameter after one Adam step; adam_m/<name>, adam_v/<name> its moments
  input/images        (N,112,112,3) RGB 0..255   (token_head: input/features (N,13,13,32) instead)
  input/targets       (N,3)   input/class_weights (3,)
  mask/0 (N,1,1,16) spatial dropout, mask/1 (N,16) after pooling, mask/2 (N,8) before the
  classifier: keep/(1-0.2), i.e. 0 or 1.25, in the order the network uses them (`dropout.<k>`).
`__metadata__` holds one key, "fixture": a JSON string with loss, correct, grad_norm (before
clipping), lr, clip, clip_active, clip_scale, beta1, beta2, epsilon, step_size (lr·√(1−β2)/(1−β1),
the step graph's `step_size` input), bn_eps, bn_momentum, seed, the convcut config (makeConfig
options) and the torch version.
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from safetensors_file import save_safetensors

torch.set_default_dtype(torch.float64)
out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/grad"
os.makedirs(out_dir, exist_ok=True)

DIMS, DEPTHS, LN_EPS = [8, 16, 32, 64], [1, 1, 5, 1], 1e-6
CUT = (2, 1)  # stage 2, block 1: its depthwise conv and LayerNorm only
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
BN_EPS, BN_MOMENTUM = 1e-3, 0.99
DROP = 0.2
LR, BETA1, BETA2, ADAM_EPS = 1e-2, 0.9, 0.999, 1e-7
CLASSES = ["a", "b", "c"]
FILTERS, HIDDEN = 16, 8


# ---------------------------------------------------------------- parameters (names, shapes, layouts)


def backbone_specs():
    """(name, shape) in convcut's declaration order: conv HWIO, depthwise (kh,kw,C,1), dense (in,out)."""
    s = [("stem.0.weight", (4, 4, 3, DIMS[0])), ("stem.0.bias", (DIMS[0],)),
         ("stem.1.weight", (DIMS[0],)), ("stem.1.bias", (DIMS[0],))]
    for st in range(CUT[0] + 1):
        c = DIMS[st]
        if st > 0:
            p = f"stages.{st}.downsample"
            s += [(f"{p}.0.weight", (DIMS[st - 1],)), (f"{p}.0.bias", (DIMS[st - 1],)),
                  (f"{p}.1.weight", (2, 2, DIMS[st - 1], c)), (f"{p}.1.bias", (c,))]
        last = CUT[1] if st == CUT[0] else DEPTHS[st] - 1
        for b in range(last + 1):
            p = f"stages.{st}.blocks.{b}"
            s += [(f"{p}.conv_dw.weight", (7, 7, c, 1)), (f"{p}.conv_dw.bias", (c,)),
                  (f"{p}.norm.weight", (c,)), (f"{p}.norm.bias", (c,))]
            if (st, b) != CUT:
                s += [(f"{p}.mlp.fc1.weight", (c, 4 * c)), (f"{p}.mlp.fc1.bias", (4 * c,)),
                      (f"{p}.mlp.fc2.weight", (4 * c, c)), (f"{p}.mlp.fc2.bias", (c,)),
                      (f"{p}.gamma", (c,))]
    return s


def head_specs(layer_norm, attention, cin=DIMS[CUT[0]]):
    f, h, n = FILTERS, HIDDEN, len(CLASSES)
    s = [("detail.sep1.depthwise.weight", (4, 4, cin, 1)), ("detail.sep1.pointwise.weight", (cin, f)),
         ("detail.sep1.pointwise.bias", (f,)),
         ("detail.sep2.depthwise.weight", (2, 2, f, 1)), ("detail.sep2.pointwise.weight", (f, f)),
         ("detail.sep2.pointwise.bias", (f,))]
    if layer_norm:
        s += [("head.norm.weight", (f,)), ("head.norm.bias", (f,))]
    if attention == "token":
        for k in "qkvo":
            nm = "out" if k == "o" else k
            s += [(f"attention.{nm}.weight", (f, f)), (f"attention.{nm}.bias", (f,))]
    s += [("head.fc.weight", (f, h)), ("head.fc.bias", (h,)),
          ("head.bn.weight", (h,)), ("head.bn.bias", (h,)),
          ("head.bn.running_mean", (h,)), ("head.bn.running_var", (h,))]
    if attention == "batch":
        s += [("attention.scale", ())]
    s += [("head.classifier.weight", (h, n)), ("head.classifier.bias", (n,))]
    return s


STATS = {"head.bn.running_mean", "head.bn.running_var"}


def f32(t):
    """A float32 value, carried as float64: what both sides can hold exactly."""
    return t.float().double()


def random_params(specs, gen):
    """Random everything, so no term hides (layer scale not 1e-6, LayerNorm weights ≈ 1 ± noise)."""
    out = {}
    for name, shape in specs:
        r = torch.randn(shape, generator=gen)
        last = name.rsplit(".", 1)[-1]
        if name == "attention.scale":
            # x·xᵀ of BatchNorm outputs is ≈ 8 on the diagonal: a small scale keeps the softmax soft.
            v = 0.15 + 0.03 * r
        elif name == "head.bn.running_mean":
            v = 0.3 * r
        elif name == "head.bn.running_var":
            v = 0.5 + torch.rand(shape, generator=gen)
        elif name == "head.fc.bias":
            # shifted up, so that with 4-5 images each hidden unit is active for ≥ 2 of them
            v = 1.0 + 0.2 * r
        elif name.endswith("gamma"):
            v = 0.4 * r
        elif last == "bias":
            v = 0.2 * r
        elif len(shape) == 1:  # LayerNorm / BatchNorm weight
            v = 1.0 + 0.2 * r
        else:  # kernels: fan-in = all but the last axis (depthwise: kh·kw)
            fan_in = math.prod(shape[:-1]) if shape[-1] != 1 else shape[0] * shape[1]
            v = min(0.5, max(0.2, 1.5 / math.sqrt(fan_in))) * r
        out[name] = f32(v)
    return out


# ---------------------------------------------------------------- the network (NHWC at the interface)


def same_pad(n, k, s):
    """TensorFlow 'same': total = max((ceil(n/s)-1)*s + k - n, 0), the extra pixel at the end."""
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv(x, w, b, stride, padding, groups=1):
    """x NHWC; w HWIO (dense) or (kh,kw,C,1) (depthwise, groups=C)."""
    kh, kw = w.shape[0], w.shape[1]
    xc = x.permute(0, 3, 1, 2)
    if padding == "same":
        (t, bo), (l, r) = same_pad(xc.shape[2], kh, stride), same_pad(xc.shape[3], kw, stride)
        xc = F.pad(xc, (l, r, t, bo))
    wt = w.permute(2, 3, 0, 1) if groups > 1 else w.permute(3, 2, 0, 1)  # -> (C,1,kh,kw) / OIHW
    return F.conv2d(xc, wt, b, stride=stride, groups=groups).permute(0, 2, 3, 1)


def dwconv(x, w, b, stride, padding):
    return conv(x, w, b, stride, padding, groups=x.shape[-1])


def ln(x, p, name, eps=LN_EPS):
    return F.layer_norm(x, (x.shape[-1],), p[f"{name}.weight"], p[f"{name}.bias"], eps)


def dense(x, p, name, bias=True):
    y = x @ p[f"{name}.weight"]
    return y + p[f"{name}.bias"] if bias else y


def backbone(p, images):
    x = (images / 255 - torch.tensor(MEAN)) / torch.tensor(STD)
    x = conv(x, p["stem.0.weight"], p["stem.0.bias"], 4, "valid")
    x = ln(x, p, "stem.1")
    for st in range(CUT[0] + 1):
        if st > 0:
            d = f"stages.{st}.downsample"
            x = conv(ln(x, p, f"{d}.0"), p[f"{d}.1.weight"], p[f"{d}.1.bias"], 2, "valid")
        last = CUT[1] if st == CUT[0] else DEPTHS[st] - 1
        for b in range(last + 1):
            q = f"stages.{st}.blocks.{b}"
            y = ln(dwconv(x, p[f"{q}.conv_dw.weight"], p[f"{q}.conv_dw.bias"], 1, "same"), p, f"{q}.norm")
            if (st, b) == CUT:
                return y  # the cut: no MLP, no residual
            y = dense(F.gelu(dense(y, p, f"{q}.mlp.fc1")), p, f"{q}.mlp.fc2")
            x = x + y * p[f"{q}.gamma"]
    raise AssertionError("cut not reached")


def head(p, feats, masks, layer_norm, attention, relu_inputs, stats):
    def relu(t):
        relu_inputs.append(t.detach())
        return F.relu(t)

    x = relu(dense(dwconv(feats, p["detail.sep1.depthwise.weight"], None, 4, "same"), p, "detail.sep1.pointwise"))
    x = relu(dense(dwconv(x, p["detail.sep2.depthwise.weight"], None, 2, "valid"), p, "detail.sep2.pointwise"))
    if layer_norm:
        x = ln(x, p, "head.norm")
    if attention == "token":
        n, h, w, c = x.shape
        tokens = x.reshape(n, h * w, c)
        q, k, v = (dense(tokens, p, f"attention.{s}") for s in "qkv")
        weights = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        x = (tokens + dense(weights @ v, p, "attention.out")).reshape(n, h, w, c)
    x = x * masks[0]  # SpatialDropout2D: (N,1,1,C)
    x = x.mean(dim=(1, 2))
    x = x * masks[1]
    x = relu(dense(x, p, "head.fc"))
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).mean(dim=0)  # biased, as Keras
    stats["mean"], stats["var"] = mean.detach(), var.detach()
    x = (x - mean) / torch.sqrt(var + BN_EPS) * p["head.bn.weight"] + p["head.bn.bias"]
    if attention == "batch":
        weights = torch.softmax(p["attention.scale"] * (x @ x.T), dim=-1)  # (N, N): mixes images
        stats["batch_attention"] = weights.detach()
        x = weights @ x
    x = x * masks[2]
    return dense(x, p, "head.classifier")


def forward(p, case, inputs):
    relu_inputs, stats = [], {}
    feats = backbone(p, inputs["input/images"]) if case["backbone"] else inputs["input/features"]
    masks = [inputs[f"mask/{i}"] for i in range(3)]
    z = head(p, feats, masks, case["layerNorm"], case["attention"], relu_inputs, stats)
    t, cw = inputs["input/targets"], inputs["input/class_weights"]
    nll = -(t * torch.log_softmax(z, dim=-1)).sum(dim=1)
    loss = (nll * (t * cw).sum(dim=1)).mean()
    return loss, z, relu_inputs, stats


# ---------------------------------------------------------------- cases


def make_masks(gen, shapes):
    out = []
    for shape in shapes:
        while True:
            keep = (torch.rand(shape, generator=gen) >= DROP).double()
            flat = keep.reshape(shape[0], -1)
            # a few zeros in every sample, never all of them
            if (flat == 0).any(dim=1).all() and (flat == 1).sum(dim=1).ge(2).all():
                break
        out.append(keep / (1 - DROP))  # 0 or 1.25, exact in float32
    return out


class Reseed(Exception):
    pass


def need(ok, why):
    if not ok:
        raise Reseed(why)


def make_case(case, seed):
    gen = torch.Generator().manual_seed(seed)
    n = case["n"]
    specs = (backbone_specs() if case["backbone"] else []) + head_specs(case["layerNorm"], case["attention"])
    p = random_params(specs, gen)
    inputs = {}
    if case["backbone"]:
        inputs["input/images"] = torch.randint(0, 256, (n, 112, 112, 3), generator=gen).double()
    else:
        inputs["input/features"] = f32(torch.randn((n, *case["features"]), generator=gen))
    if case["soft"]:
        t = torch.softmax(1.5 * torch.randn((n, len(CLASSES)), generator=gen), dim=-1)
        t = f32(t)
    else:
        labels = torch.randint(0, len(CLASSES), (n,), generator=gen)
        t = F.one_hot(labels, len(CLASSES)).double()
    inputs["input/targets"] = t
    inputs["input/class_weights"] = f32(torch.tensor(case["class_weights"]))
    for i, m in enumerate(make_masks(gen, [(n, 1, 1, FILTERS), (n, FILTERS), (n, HIDDEN)])):
        inputs[f"mask/{i}"] = m
    return specs, p, inputs


def check_gradients(p, train, case, inputs, grads, gen):
    """Central finite differences in float64 against autograd (checks this torch model, not convcut)."""
    def loss_at(q):
        with torch.no_grad():
            return forward(q, case, inputs)[0].item()

    picks = torch.randperm(len(train), generator=gen)[:3].tolist()
    if case["attention"] == "batch" and train.index("attention.scale") not in picks:
        picks[-1] = train.index("attention.scale")
    h = 1e-6
    for i in picks:
        name = train[i]
        base = p[name]
        # one random direction over the whole tensor, then one random element
        d = torch.randn(base.shape, generator=gen)
        idx = torch.randint(0, max(base.numel(), 1), (1,), generator=gen).item()
        e = torch.zeros(base.numel())
        e[idx] = 1.0
        for direction in (d, e.reshape(base.shape)):
            plus, minus = dict(p), dict(p)
            plus[name], minus[name] = base + h * direction, base - h * direction
            fd = (loss_at(plus) - loss_at(minus)) / (2 * h)
            ad = (grads[name] * direction).sum().item()
            err = abs(fd - ad)
            print(f"  fd {name:40s} autograd {ad: .10e}  finite diff {fd: .10e}  |diff| {err:.2e}")
            assert err <= 1e-6 * max(1.0, abs(ad)) + 1e-9, f"gradient check failed for {name}"
    # and everything at once, along one random direction
    ds = {k: torch.randn(p[k].shape, generator=gen) for k in train}
    plus = {**p, **{k: p[k] + h * ds[k] for k in train}}
    minus = {**p, **{k: p[k] - h * ds[k] for k in train}}
    fd = (loss_at(plus) - loss_at(minus)) / (2 * h)
    ad = sum((grads[k] * ds[k]).sum().item() for k in train)
    print(f"  fd {'(all parameters)':40s} autograd {ad: .10e}  finite diff {fd: .10e}  |diff| {abs(fd - ad):.2e}")
    assert abs(fd - ad) <= 1e-6 * max(1.0, abs(ad)), "joint gradient check failed"


def run_case(case):
    """Draws the case from seeds 1000·seed, 1000·seed+1, ... until it is clear of kinks and ties."""
    for attempt in range(100):
        seed = 1000 * case["seed"] + attempt
        try:
            return write_case(case, seed)
        except Reseed as e:
            print(f"[{case['name']}] seed {seed}: {e}; next seed")
    raise SystemExit(f"{case['name']}: no usable seed")


def write_case(case, seed):
    specs, p, inputs = make_case(case, seed)
    train = [k for k, _ in specs if k not in STATS]
    leaves = {k: (v.clone().requires_grad_(k in train)) for k, v in p.items()}
    loss, z, relu_inputs, stats = forward(leaves, case, inputs)
    grads = dict(zip(train, torch.autograd.grad(loss, [leaves[k] for k in train])))

    # Sanity: the float32 engine must not see a different network at a ReLU kink or an argmax tie.
    relu_margin = min(r.abs().min().item() for r in relu_inputs)
    fc_pre = relu_inputs[-1]
    need((fc_pre > 0).sum(dim=0).ge(2).all(), "a head.fc unit is active for < 2 samples")
    need((fc_pre <= 0).any(), "no head.fc unit is ever inactive (its ReLU mask would go untested)")
    need(stats["var"].min().item() > 5e-2, "a BatchNorm batch variance is tiny")
    top2 = z.detach().topk(2, dim=1).values
    logit_margin = (top2[:, 0] - top2[:, 1]).min().item()
    t = inputs["input/targets"]
    t2 = t.topk(2, dim=1).values
    need((t2[:, 0] - t2[:, 1]).min().item() > 1e-3, "argmax tie in the targets")
    need(relu_margin > 1e-4, f"a ReLU input is {relu_margin:.1e} from the kink")
    need(logit_margin > 1e-3, "argmax tie in the logits")
    correct = int((z.argmax(dim=1) == t.argmax(dim=1)).sum().item())

    # BatchNorm running statistics (Keras: moving·momentum + batch·(1 − momentum), biased variance).
    new_mean = p["head.bn.running_mean"] * BN_MOMENTUM + stats["mean"] * (1 - BN_MOMENTUM)
    new_var = p["head.bn.running_var"] * BN_MOMENTUM + stats["var"] * (1 - BN_MOMENTUM)

    # One Keras Adam step from zero moments, with global-norm clipping.
    norm = math.sqrt(sum((g * g).sum().item() for g in grads.values()))
    if case["clip"] == "below":  # clipping active: half of ‖g‖, rounded down to a multiple of 1/8
        clip = math.floor(norm * 0.5 * 8) / 8
    elif case["clip"] == "above":  # clipping inactive: twice ‖g‖, rounded up to an integer
        clip = float(math.ceil(2 * norm))
    else:
        clip = float(case["clip"])
    need(clip > 0 and abs(norm - clip) > 0.05 * clip, "‖g‖ too close to the clip threshold")
    c = clip / max(norm, clip)
    step_size = LR * math.sqrt(1 - BETA2) / (1 - BETA1)
    adam, adam_m, adam_v = {}, {}, {}
    eps_matters = 0  # entries where ε is over 1% of √v: there the update is not just ±step_size
    for k in train:
        g = grads[k]
        m = (1 - BETA1) * c * g
        v = (1 - BETA2) * c * c * g * g
        adam[k] = p[k] - step_size * m / (torch.sqrt(v) + ADAM_EPS)
        adam_m[k], adam_v[k] = m, v
        eps_matters += int((torch.sqrt(v) < 100 * ADAM_EPS).sum().item())

    n_params = sum(p[k].numel() for k in train)
    print(f"[{case['name']}] seed {seed} N={case['n']} loss {loss.item():.6f} correct {correct}/{case['n']} "
          f"max|logits| {z.abs().max().item():.4f} grad_norm {norm:.6f} clip {clip} (active: {norm > clip}) "
          f"trainable {len(train)} tensors / {n_params} values")
    print(f"  min |ReLU input| {relu_margin:.2e}  min top-2 logit gap {logit_margin:.3e}  "
          f"min |g| {min(g.abs().min().item() for g in grads.values()):.2e}  "
          f"entries where Adam's ε is > 1% of √v: {eps_matters}")
    if "batch_attention" in stats:
        print("  batch attention weights, row max:", [round(v, 3) for v in stats["batch_attention"].max(dim=1).values.tolist()])
    zero = [k for k in train if grads[k].abs().max().item() == 0]
    if zero:
        print("  gradients exactly 0:", ", ".join(zero))
    check_gradients(p, train, case, inputs, grads, torch.Generator().manual_seed(seed + 1))

    tensors = {}
    for k, _ in specs:
        tensors[f"w/{k}"] = p[k]
    for k in train:
        tensors[f"g/{k}"] = grads[k]
    tensors["bn/head.bn.running_mean"] = new_mean
    tensors["bn/head.bn.running_var"] = new_var
    for prefix, d in (("adam", adam), ("adam_m", adam_m), ("adam_v", adam_v)):
        for k in train:
            tensors[f"{prefix}/{k}"] = d[k]
    tensors.update(inputs)
    head_cfg = {"detailBlock": True, "detailFilters": FILTERS, "layerNorm": case["layerNorm"],
                "attention": case["attention"], "dropout": DROP, "hidden": HIDDEN, "classes": CLASSES}
    meta = {
        "case": case["name"], "seed": seed, "loss": loss.item(), "correct": correct, "grad_norm": norm,
        "lr": LR, "clip": clip, "clip_active": norm > clip, "clip_scale": c, "beta1": BETA1, "beta2": BETA2,
        "epsilon": ADAM_EPS, "step": 1, "step_size": step_size,
        "bn_eps": BN_EPS, "bn_momentum": BN_MOMENTUM,
        "trainable": "backbone+head" if case["backbone"] else "head",
        "input": "input/images" if case["backbone"] else "input/features",
        "config": {"backbone": "test", "cut": "stage_2_block_1_layernorm", "inputSize": case["inputSize"],
                   "head": head_cfg},
        "torch": torch.__version__,
    }
    path = os.path.join(out_dir, f"{case['name']}.safetensors")
    save_safetensors(path, tensors, {"fixture": json.dumps(meta)}, f16={"input/images"})
    print(f"  wrote {path} ({os.path.getsize(path) / 1024:.0f} KiB)")


CASES = [
    dict(name="token", seed=1, n=4, backbone=True, inputSize=112, layerNorm=True, attention="token",
         soft=True, class_weights=[0.5, 1.5, 2.0], clip=3.0),
    dict(name="batch", seed=2, n=5, backbone=True, inputSize=112, layerNorm=False, attention="batch",
         soft=False, class_weights=[1.2, 0.7, 1.0], clip="below"),
    dict(name="token_head", seed=3, n=3, backbone=False, inputSize=208, features=(13, 13, 32),
         layerNorm=True, attention="token", soft=True, class_weights=[0.5, 1.5, 2.0], clip="above"),
]

if __name__ == "__main__":
    for case in CASES:
        run_case(case)
    print("torch", torch.__version__)
