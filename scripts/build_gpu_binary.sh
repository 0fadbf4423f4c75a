#!/usr/bin/env bash
# Builds what scripts/gpu_check.sh runs on the GPU machine, which has no Swift toolchain: a
# release swiftgpt with the Swift runtime linked in (-static-stdlib keeps dlopen working; do not
# use -static-executable), stripped and gzipped into .gpu/ (only the checkout travels, 64 MiB in
# all), with the PyTorch anchor script beside it when ../shared has it.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product swiftgpt -Xswiftc -static-stdlib --scratch-path .build-static
mkdir -p .gpu
strip -o .gpu/swiftgpt .build-static/release/swiftgpt
gzip -9f .gpu/swiftgpt
[ -f ../shared/bench/gpu_anchors.py ] && cp ../shared/bench/gpu_anchors.py .gpu/
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
grep -qx '/.build-static/' .git/info/exclude 2>/dev/null || echo '/.build-static/' >> .git/info/exclude
ls -l .gpu
