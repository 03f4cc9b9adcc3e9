#!/usr/bin/env python3
"""A Keras `convnext_<size>_notop.h5` stand-in, written the way Keras 2.10 writes that file.

The real file cannot be downloaded here, and a test file written by convcut's own code would share
the loader's assumptions. This script follows Keras instead:
- keras/applications/convnext.py (2.10) builds the model: input, `<name>_prestem_normalization`
  (Normalization given its mean and variance, so it has no weights), the `<name>_stem` Sequential
  (`_stem_conv`, `_stem_layernorm`), then per stage an `<name>_downsampling_block_<i>` Sequential
  (`_downsampling_layernorm_<i>`, `_downsampling_conv_<i>`) and the blocks: `_depthwise_conv`
  (Conv2D, groups = C, kernel 7×7×1×C), `_layernorm`, `_pointwise_conv_1`/`_2` (Dense), `_gelu`,
  `_layer_scale` (LayerScale: a bare tf.Variable, so its weight is named `Variable:0`),
  `_identity` (Activation) and the residual `tf.__operators__.add[_k]` (TFOpLambda); with
  include_top=False it appends an auto-named `layer_normalization` after the last stage.
- keras/saving/hdf5_format.py (2.10) `save_weights_to_hdf5_group`: root attributes `layer_names`
  (model.layers in order, as bytes), `backend`, `keras_version`; one group per layer (created in
  name order) with attribute `weight_names` (each variable's `.name`; an empty list for layers
  without weights) and one dataset per weight at that name (a "/" makes nested groups); then a
  `top_level_model_weights` group. Attributes over 64512 bytes would be split into `<name>0`,
  `<name>1`, … (not reached at this size).

Input: test/fixtures/torchvision/torchvision.safetensors (scripts/make-torch-fixtures.py: the `test`
ConvNeXt, depths 1,1,5,1, dims 8,16,32,64). Output: test/fixtures/keras/convnext_test_notop.h5.
    /usr/bin/python3 scripts/make-keras-fixture.py       (Debian python3-h5py)
"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from safetensors_file import load_safetensors  # noqa: E402

src = "test/fixtures/torchvision/torchvision.safetensors"
out = "test/fixtures/keras/convnext_test_notop.h5"
name = "convnext_test"
depths = [1, 1, 5, 1]
sd = load_safetensors(src)
rng = np.random.default_rng(0)


def conv(k):  # torch OIHW → Keras HWIO (for the depthwise conv: (C,1,7,7) → (7,7,1,C))
    return np.ascontiguousarray(sd[k].transpose(2, 3, 1, 0))


def dense(k):  # torch (out, in) → Keras (in, out)
    return np.ascontiguousarray(sd[k].T)


layers = [("input_1", []), (f"{name}_prestem_normalization", [])]
layers.append((f"{name}_stem", [
    (f"{name}_stem_conv/kernel:0", conv("features.0.0.weight")),
    (f"{name}_stem_conv/bias:0", sd["features.0.0.bias"]),
    (f"{name}_stem_layernorm/gamma:0", sd["features.0.1.weight"]),
    (f"{name}_stem_layernorm/beta:0", sd["features.0.1.bias"]),
]))
adds = 0
for i, depth in enumerate(depths):
    f = 2 * i + 1  # torchvision features index of stage i; its downsampling is f - 1
    if i > 0:
        d = f"features.{f - 1}"
        layers.append((f"{name}_downsampling_block_{i - 1}", [
            (f"{name}_downsampling_layernorm_{i - 1}/gamma:0", sd[f"{d}.0.weight"]),
            (f"{name}_downsampling_layernorm_{i - 1}/beta:0", sd[f"{d}.0.bias"]),
            (f"{name}_downsampling_conv_{i - 1}/kernel:0", conv(f"{d}.1.weight")),
            (f"{name}_downsampling_conv_{i - 1}/bias:0", sd[f"{d}.1.bias"]),
        ]))
    for j in range(depth):
        b, p = f"features.{f}.{j}", f"{name}_stage_{i}_block_{j}"
        layers += [
            (f"{p}_depthwise_conv", [(f"{p}_depthwise_conv/kernel:0", conv(f"{b}.block.0.weight")),
                                     (f"{p}_depthwise_conv/bias:0", sd[f"{b}.block.0.bias"])]),
            (f"{p}_layernorm", [(f"{p}_layernorm/gamma:0", sd[f"{b}.block.2.weight"]),
                                (f"{p}_layernorm/beta:0", sd[f"{b}.block.2.bias"])]),
            (f"{p}_pointwise_conv_1", [(f"{p}_pointwise_conv_1/kernel:0", dense(f"{b}.block.3.weight")),
                                       (f"{p}_pointwise_conv_1/bias:0", sd[f"{b}.block.3.bias"])]),
            (f"{p}_gelu", []),
            (f"{p}_pointwise_conv_2", [(f"{p}_pointwise_conv_2/kernel:0", dense(f"{b}.block.5.weight")),
                                       (f"{p}_pointwise_conv_2/bias:0", sd[f"{b}.block.5.bias"])]),
            (f"{p}_layer_scale", [("Variable:0", sd[f"{b}.layer_scale"].reshape(-1))]),
            (f"{p}_identity", []),
            ("tf.__operators__.add" + (f"_{adds}" if adds else ""), []),
        ]
        adds += 1
# include_top=False: Keras' own trailing LayerNormalization, auto-named (random values: it lies after any cut).
c = sd["features.7.0.block.0.bias"].shape[0]
layers.append(("layer_normalization", [("layer_normalization/gamma:0", rng.standard_normal(c).astype(np.float32)),
                                       ("layer_normalization/beta:0", rng.standard_normal(c).astype(np.float32))]))

os.makedirs(os.path.dirname(out), exist_ok=True)
with h5py.File(out, "w") as fh:
    fh.attrs["layer_names"] = [n.encode("utf8") for n, _ in layers]
    fh.attrs["backend"] = "tensorflow".encode("utf8")
    fh.attrs["keras_version"] = "2.10.0".encode("utf8")
    for lname, weights in sorted(layers, key=lambda x: x[0]):
        g = fh.create_group(lname)
        g.attrs["weight_names"] = [w.encode("utf8") for w, _ in weights]
        for wname, val in weights:
            g.create_dataset(wname, val.shape, dtype=val.dtype)[:] = val
    fh.create_group("top_level_model_weights").attrs["weight_names"] = []
print(f"wrote {out}: {len(layers)} layers, {sum(len(w) for _, w in layers)} weights")
