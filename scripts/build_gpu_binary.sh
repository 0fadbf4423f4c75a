#!/usr/bin/env bash
# Builds what scripts/gpu_check.sh runs on the GPU machine, which has no Swift toolchain: a
# release swiftgpt with the Swift runtime linked in (-static-stdlib keeps dlopen working; do not
# use -static-executable), stripped and gzipped into .gpu/ (only the checkout travels, 64 MiB in
# all), with the PyTorch anchor script beside it when ../shared has it, and tinyshakespeare as
# character shards for the bf16 check (nanoGPT's shakespeare_char: 90 % train, 10 % val).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product swiftgpt -Xswiftc -static-stdlib --scratch-path .build-static
mkdir -p .gpu
strip -o .gpu/swiftgpt .build-static/release/swiftgpt
gzip -9f .gpu/swiftgpt
[ -f ../shared/bench/gpu_anchors.py ] && cp ../shared/bench/gpu_anchors.py .gpu/
if [ -f ../shared/data/corpus/en/tinyshakespeare.txt ]; then
  rm -rf .gpu/shakespeare_char
  .build-static/release/swiftgpt prepare --input ../shared/data/corpus/en/tinyshakespeare.txt --tokenizer char \
    --val-fraction 0.1 --output .gpu/shakespeare_char > /dev/null
fi
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
grep -qx '/.build-static/' .git/info/exclude 2>/dev/null || echo '/.build-static/' >> .git/info/exclude
ls -l .gpu
