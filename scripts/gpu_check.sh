#!/usr/bin/env bash
# The one script a GPU slot runs (see ../shared/notes/gpu-device.md): prepare it here with
# scripts/build_gpu_binary.sh, then run `bash scripts/gpu_check.sh` on the GPU machine, with $OUT
# naming the folder that comes back. Prints a short summary; the full log is $OUT/gpu_check.log.
#   1. the GPU, the driver and where the CUDA libraries are (nvidia-smi, swiftgpt doctor);
#   2. the exported names SwiftGPT looks up, checked with nm in the libraries found;
#   3. every CUDA op against the CPU engine, forward and backward (swiftgpt doctor --check);
#   4. 50 training steps of gpt-micro on the embedded corpus on the GPU in FP32 against the CPU
#      (losses within 1e-5), twice on the GPU (the same bits), and a CPU run resumed on the GPU;
#      the same in bf16 (within 2e-2); greedy samples from it on both devices (the same text);
#      SFT with LoRA on both (the same adapters); shakespeare_char (6×384, B=64, T=256) in bf16
#      against FP32 on the GPU, when .gpu/shakespeare_char is there (val losses within 0.02);
#   5. GPT-2 124M training-step speed in bf16, TF32 and FP32 (bench gpt --device cuda) and KV-cache
#      decoding (bench decode --device cuda), then PyTorch's side of the
#      benchmarks on the same GPU (.gpu/gpu_anchors.py), when time allows.
# PART=check runs 1-4, PART=bench 1, 2 and 5 (two device calls, when one cannot hold both);
# the default runs all. The whole run stays within BUDGET seconds (default 540, inside a
# device call's ten minutes): every command's timeout is cut to the time left, and what no
# longer fits is skipped and reported, so the summary always comes back.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
status=0
step() { echo; echo "== $*"; }
PART="${PART:-all}"
want() { [ "$PART" = all ] || [ "$PART" = "$1" ]; }
started=$(date +%s)
budget="${BUDGET:-540}"
# within N CMD...: CMD with a timeout of N seconds, cut to the budget's time left (less 15 s for
# the summary); not run at all, and reported, when no time is left.
within() {
  local n=$1; shift
  local left=$(( budget - ($(date +%s) - started) - 15 ))
  (( left < n )) && n=$left
  if (( n <= 0 )); then local what="${*:2}"; echo "SKIP out of time: ${what:0:100}" >&2; status=1; return 1; fi
  timeout "$n" "$@"
}

# SWIFTGPT_BIN=path runs another binary (a dry run here: SWIFTGPT_CUDA_LIBS at the test suite's
# fake CUDA, SKIP_BENCH=1 SKIP_ANCHORS=1).
bin="${SWIFTGPT_BIN:-${TMPDIR:-/tmp}/swiftgpt-gpu}"
if [ -z "${SWIFTGPT_BIN:-}" ]; then
  gunzip -c .gpu/swiftgpt.gz > "$bin" 2>/dev/null && chmod +x "$bin" \
    || { echo "no .gpu/swiftgpt.gz: run scripts/build_gpu_binary.sh first (and carry .gpu)"; exit 1; }
fi

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || status=1
site=$(python3 -c 'import site; print(" ".join(site.getsitepackages()))' 2>/dev/null)
echo "site-packages: $site"

step "swiftgpt doctor"
within 120 "$bin" doctor || status=1

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
  names "$lib/libcublas.so.13" cublasCreate_v2 cublasSetMathMode cublasSgemm_v2 cublasSgemmStridedBatched \
    cublasGemmStridedBatchedEx
done
driver=$(ldconfig -p | awk '/libcuda\.so\.1 /{print $NF; exit}')
[ -n "$driver" ] && names "$driver" cuInit cuDriverGetVersion cuDeviceGetCount cuDeviceGet cuDeviceGetName cuDeviceTotalMem_v2 \
  cuDeviceGetAttribute cuDevicePrimaryCtxRetain cuCtxSetCurrent cuCtxSynchronize cuMemAlloc_v2 cuMemFree_v2 cuMemGetInfo_v2 \
  cuMemcpyHtoD_v2 cuMemcpyDtoH_v2 cuMemsetD8_v2 cuModuleLoadData cuModuleGetFunction cuLaunchKernel cuGetErrorName cuGetErrorString

if want check; then
step "swiftgpt doctor --check (each CUDA op against the CPU engine: FP32, and the products in TF32 and bf16)"
within 300 "$bin" doctor --check | tee "$OUT/parity.txt" || status=1

# compare A B TOLERANCE: the training losses of two runs' log.csv, step by step (0 = the same bits).
compare() {
  for f in "$1" "$2"; do [ -f "$f" ] || { echo "FAIL no $f (that run did not finish)"; status=1; return; }; done
  python3 - "$@" <<'PY' || status=1
import csv, sys
a, b, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
rows = lambda p: {r["step"]: float(r["loss"]) for r in csv.DictReader(open(p)) if r["step"] != "0"}
ra, rb = rows(a), rows(b)
if ra.keys() != rb.keys():
    print(f"FAIL {len(ra)} steps in {a}, {len(rb)} in {b} (a run did not finish)")
    sys.exit(1)
worst = max(abs(ra[s] - rb[s]) / abs(ra[s]) for s in ra)
ok = worst <= tol
print(f"{'ok  ' if ok else 'FAIL'} {len(ra)} steps, largest relative difference {worst:.2e} (tolerance {tol:g}): {a} vs {b}")
sys.exit(0 if ok else 1)
PY
}
runs="$OUT/runs"; rm -rf "$runs"
train() { within 240 "$bin" train --max-steps 50 --eval-every 25 --eval-steps 2 --seed 7 "$@" > /dev/null || status=1; }
step "training: 50 steps, CPU against GPU (FP32)"
train --out "$runs/cpu" --device cpu
train --out "$runs/gpu" --device cuda --precision fp32
train --out "$runs/gpu2" --device cuda --precision fp32
compare "$runs/cpu/log.csv" "$runs/gpu/log.csv" 1e-5
compare "$runs/gpu/log.csv" "$runs/gpu2/log.csv" 0
step "a CPU run resumed on the GPU"
train --out "$runs/moved" --device cpu --max-steps 25
within 240 "$bin" train --out "$runs/moved" --resume --max-steps 50 --device cuda --precision fp32 > /dev/null || status=1
compare "$runs/cpu/log.csv" "$runs/moved/log.csv" 1e-5
step "training: 50 steps with bf16 products (the default on sm_80 and newer) against the CPU"
train --out "$runs/gpu_bf16" --device cuda
train --out "$runs/gpu_bf16b" --device cuda --precision bf16
compare "$runs/cpu/log.csv" "$runs/gpu_bf16/log.csv" 2e-2
compare "$runs/gpu_bf16/log.csv" "$runs/gpu_bf16b/log.csv" 0

step "greedy generation from the GPU-trained model, CPU against GPU (the same text)"
for d in cpu cuda; do
  within 120 "$bin" sample --checkpoint "$runs/gpu" --max-new-tokens 64 --temperature 0 --device $d > "$runs/sample_$d.txt" 2>/dev/null || status=1
done
if [ -s "$runs/sample_cpu.txt" ] && cmp -s "$runs/sample_cpu.txt" "$runs/sample_cuda.txt"; then echo "ok   greedy samples identical"
else echo "FAIL greedy samples differ or are missing"; status=1; fi

step "SFT with LoRA, CPU against GPU"
python3 -c '
import json
for k in range(48):
    print(json.dumps([{"role": "user", "content": "질문 %d" % (k % 6)}, {"role": "assistant", "content": "답 %d입니다" % (k % 6)}], ensure_ascii=False))
' > "$runs/chat.jsonl"
for d in cpu cuda; do
  within 240 "$bin" finetune --task sft --checkpoint "$runs/cpu" --train "$runs/chat.jsonl" --lora --epochs 2 --batch-size 8 \
    --lr 1e-3 --out "$runs/sft_$d" --device $d $([ $d = cuda ] && echo --precision fp32) > "$runs/sft_$d.log" 2>&1 || status=1
done
adapters=("$runs/sft_cpu/adapter/adapter_model.safetensors" "$runs/sft_cuda/adapter/adapter_model.safetensors")
if [ ! -f "${adapters[0]}" ] || [ ! -f "${adapters[1]}" ]; then echo "FAIL an SFT run did not finish"; status=1
else python3 - "${adapters[@]}" <<'PY' || status=1
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__": continue
        a, b = t["data_offsets"]
        out[name] = struct.unpack("<%df" % ((b - a) // 4), data[8 + n + a:8 + n + b])
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
largest = max(abs(x) for v in a.values() for x in v)
worst = max(abs(x - y) for k in a for x, y in zip(a[k], b[k])) / largest
ok = a.keys() == b.keys() and worst <= 1e-4
print(f"{'ok  ' if ok else 'FAIL'} LoRA adapters after SFT: largest difference {worst:.2e} of the largest weight (tolerance 1e-4)")
sys.exit(0 if ok else 1)
PY
fi

if [ -d .gpu/shakespeare_char ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
  step "shakespeare_char (6x384, B=64, T=256, dropout 0.2): 500 steps in bf16 against FP32 on the GPU"
  for precision in fp32 bf16; do
    within 200 "$bin" train --data .gpu/shakespeare_char --out "$runs/shakespeare_$precision" --model gpt-mini \
      --n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --dropout 0.2 --batch-size 64 --max-steps 500 --lr 1e-3 \
      --eval-every 250 --eval-steps 20 --seed 1337 --device cuda --precision $precision > "$runs/shakespeare_$precision.log" || status=1
  done
  if [ ! -f "$runs/shakespeare_fp32/log.csv" ] || [ ! -f "$runs/shakespeare_bf16/log.csv" ]; then
    echo "FAIL a shakespeare_char run did not finish"; status=1
  else python3 - "$runs/shakespeare_fp32/log.csv" "$runs/shakespeare_bf16/log.csv" <<'PY' || status=1
import csv, sys
last = lambda p: [float(r["val_loss"]) for r in csv.DictReader(open(p)) if r.get("val_loss")][-1]
a, b = last(sys.argv[1]), last(sys.argv[2])
ok = abs(a - b) <= 0.02
print(f"{'ok  ' if ok else 'FAIL'} shakespeare_char val loss after 500 steps: fp32 {a:.4f}, bf16 {b:.4f} (tolerance 0.02)")
sys.exit(0 if ok else 1)
PY
  fi
fi
fi

if want bench && [ "${SKIP_BENCH:-0}" != 1 ]; then
  for precision in bf16 tf32 fp32; do
    step "GPT-2 124M training step (B=16, T=1024, $precision)"
    within 200 "$bin" bench gpt --device cuda --precision $precision --n-layer 12 --n-head 12 --n-embd 768 --vocab-size 50304 \
      --block-size 1024 --batch-size 16 --bias --steps 10 --warmup 2 | tee "$OUT/bench_gpt2_$precision.json" || status=1
  done
  step "GPT-2 124M shape, KV-cache decoding of 1 and 8 rows (FP32)"
  within 120 "$bin" bench decode --device cuda --n-layer 12 --n-head 12 --n-embd 768 --vocab-size 50257 --block-size 1024 \
    --rows 1 8 --prompt 16 --steps 128 --rounds 1 | tee "$OUT/bench_decode_gpt2.json" || status=1
fi

if want bench && [ -f .gpu/gpu_anchors.py ] && [ "${SKIP_ANCHORS:-0}" != 1 ]; then
  step "PyTorch anchors (eager)"
  OUT="$OUT" within 240 python3 .gpu/gpu_anchors.py eager || echo "anchors did not finish"
fi

step "summary"
grep -E "^GPU:|GPU results match|^ok  |^FAIL|^SKIP|tokens_per_s" "$OUT/gpu_check.log" | sed 's/^/  /'
echo "  $(( $(date +%s) - started )) s of a $budget s budget; exit status $status"
exit $status
