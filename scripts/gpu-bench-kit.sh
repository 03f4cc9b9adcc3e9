#!/usr/bin/env bash
# Packs bench/gpu.ts for the lent GPU machine (no Node.js, no registry, 64 MiB per call):
#   bash scripts/gpu-bench-kit.sh .gpu-kit        (here, in the repo root; .gpu-kit is git-ignored)
#   run tool: command "source .gpu-kit/setup.sh && bash .gpu-kit/run.sh", carry [".gpu-kit"]
# The kit: ../shared/device/gpu-kit.sh's node + Vulkan loader, bench/gpu.ts bundled into one ESM
# file (esbuild), and the native parts it loads (onnxruntime-node's binding and libonnxruntime,
# Dawn's dawn.node), xz-compressed. run.sh unpacks them beside the bundle and runs it.
set -euo pipefail
kit=${1:-.gpu-kit}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash ../shared/device/gpu-kit.sh "$kit" >/dev/null
npx esbuild bench/gpu.ts --bundle --platform=node --format=esm --target=node20 --main-fields=module,main \
  --external:onnxruntime-node --external:webgpu --outfile="$kit/gpu-bench.mjs" --log-level=warning \
  --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
nm="$kit/node_modules"
rm -rf "$nm" && mkdir -p "$nm/onnxruntime-node/bin/napi-v6/linux/x64" "$nm/webgpu/dist/linux-x64"
cp -r node_modules/onnxruntime-common "$nm/"
cp -r node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist "$nm/onnxruntime-node/"
cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$nm/webgpu/"
xz -T2 -6 -c node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1 >"$kit/libonnxruntime.so.1.xz"
cp node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node "$nm/onnxruntime-node/bin/napi-v6/linux/x64/"
xz -T2 -6 -c node_modules/webgpu/dist/linux-x64/dawn.node >"$kit/dawn.node.xz"
cat >"$kit/run.sh" <<'EOS'
# On the GPU machine, after `source .gpu-kit/setup.sh`; arguments go to bench/gpu.ts.
set -euo pipefail
kit=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=/tmp/convcut-gpu && rm -rf "$work" && cp -r "$kit" "$work"
xz -d -c "$kit/libonnxruntime.so.1.xz" >"$work/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"
xz -d -c "$kit/dawn.node.xz" >"$work/node_modules/webgpu/dist/linux-x64/dawn.node"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
node "$work/gpu-bench.mjs" "$@"
EOS
du -sh "$kit"
