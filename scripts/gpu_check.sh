#!/usr/bin/env bash
# The one script a GPU slot runs (see ../shared/notes/gpu-device.md): prepare it here with
# scripts/build_gpu_binary.sh, then run `bash scripts/gpu_check.sh` on the GPU machine, with $OUT
# naming the folder that comes back. Prints a short summary; the full log is $OUT/gpu_check.log.
#   1. the GPU, the driver and where the CUDA libraries are (nvidia-smi, swiftgpt doctor);
#   2. the exported names SwiftGPT looks up, checked with nm in the libraries found;
#   3. every CUDA op against the CPU engine, forward and backward (swiftgpt doctor --check);
#   4. PyTorch's side of the benchmarks on the same GPU (.gpu/gpu_anchors.py), when time allows.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
status=0
step() { echo; echo "== $*"; }

bin="${TMPDIR:-/tmp}/swiftgpt-gpu"
gunzip -c .gpu/swiftgpt.gz > "$bin" 2>/dev/null && chmod +x "$bin" \
  || { echo "no .gpu/swiftgpt.gz: run scripts/build_gpu_binary.sh first (and carry .gpu)"; exit 1; }

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || status=1
site=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
echo "site-packages: $site"

step "swiftgpt doctor"
timeout 120 "$bin" doctor || status=1

step "exported names"
# names LIB NAME...: which of the functions SwiftGPT looks up LIB lacks.
names() {
  local lib=$1; shift
  [ -f "$lib" ] || return 0
  local exported missing=()
  exported=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//')
  for name in "$@"; do grep -qx "$name" <<<"$exported" || missing+=("$name"); done
  echo "$lib: ${#missing[@]} of $# missing ${missing[*]}"
  [ ${#missing[@]} = 0 ] || status=1
}
for dir in $site; do
  lib="$dir/nvidia/cu13/lib"
  names "$lib/libnvrtc.so.13" nvrtcCreateProgram nvrtcCompileProgram nvrtcDestroyProgram nvrtcGetCUBINSize nvrtcGetCUBIN \
    nvrtcGetProgramLogSize nvrtcGetProgramLog nvrtcGetErrorString nvrtcVersion
  names "$lib/libcudart.so.13" cudaSetDevice cudaFree
  names "$lib/libcublas.so.13" cublasCreate_v2 cublasSetMathMode cublasSgemm_v2 cublasSgemmStridedBatched
done
driver=$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')
[ -n "$driver" ] && names "$driver" cuInit cuDriverGetVersion cuDeviceGetCount cuDeviceGet cuDeviceGetName cuDeviceTotalMem_v2 \
  cuDeviceGetAttribute cuDevicePrimaryCtxRetain cuCtxSetCurrent cuCtxSynchronize cuMemAlloc_v2 cuMemFree_v2 cuMemGetInfo_v2 \
  cuMemcpyHtoD_v2 cuMemcpyDtoH_v2 cuMemsetD8_v2 cuModuleLoadData cuModuleGetFunction cuLaunchKernel cuGetErrorName cuGetErrorString

step "swiftgpt doctor --check (each CUDA op against the CPU engine, FP32)"
timeout 300 "$bin" doctor --check | tee "$OUT/parity.txt" || status=1

if [ -f .gpu/gpu_anchors.py ] && [ "${SKIP_ANCHORS:-0}" != 1 ]; then
  step "PyTorch anchors (eager)"
  OUT="$OUT" timeout 240 python3 .gpu/gpu_anchors.py eager || echo "anchors did not finish"
fi

step "summary"
grep -E "^GPU:|GPU results match" "$OUT/gpu_check.log" | sed 's/^/  /'
echo "  exit status $status"
exit $status
