#!/usr/bin/env bash
# Issue 8's GPU checks (the nvJPEG decoder's tests and the tensor bench) on the `device`
# machine, in two halves. That machine has CUDA but no Rust toolchain and no network, so the
# binaries are built here and travel with the working tree:
#
#   scripts/gpu-check.sh build   # here: release builds of lake-sink's `cuda` unit tests and
#                                # tensor bench, stripped, into .gpu/ (git-ignored, ~20 MiB)
#   scripts/gpu-check.sh run     # there, with `.gpu` carried: the GPU tests, then the bench;
#                                # logs under $OUT (or .gpu/out without it)
#   scripts/gpu-check.sh run tests   # there: the GPU tests only
#
# The device call: command `scripts/gpu-check.sh run`, carry [".gpu"], timeout 600.
# `run` sets LAKEUNION_REQUIRE_GPU, so a decoder that cannot start there fails the tests
# instead of skipping them, and it puts the CUDA libraries it finds (the toolkit's, or the
# ones pip installed beside PyTorch) on the loader's path.
set -euo pipefail
cd "$(dirname "$0")/.."

# The executable of the one test or bench target a `cargo --message-format=json` build made.
executable() {
    python3 -c '
import json, sys
paths = [m["executable"] for m in map(json.loads, sys.stdin)
         if m.get("reason") == "compiler-artifact" and m.get("executable")]
if len(paths) != 1:
    sys.exit(f"expected one executable, got {paths}")
print(paths[0])'
}

# Directories holding libnvjpeg or libnvrtc, and a shim directory whose unversioned
# libnvrtc.so names the newest one found: cudarc asks for `libnvrtc.so` or `.so.12` and
# older, which a CUDA 13 machine without the toolkit's dev links lacks.
cuda_library_path() {
    local shim=/tmp/lakeunion-cuda dirs nvrtc
    mkdir -p "$shim"
    # never a `stubs` directory: its libcuda.so is the link-time stub, which fails every
    # call with CUDA_ERROR_STUB_LIBRARY when it shadows the driver's
    dirs=$(find /usr/local /opt /usr/lib /usr/lib64 -xdev \
        \( -name 'libnvjpeg.so*' -o -name 'libnvrtc.so*' \) 2>/dev/null |
        grep -v /stubs/ | xargs -r -n1 dirname | sort -u | paste -sd: - || true)
    nvrtc=$(find /usr/local /opt /usr/lib /usr/lib64 -xdev -name 'libnvrtc.so.*' 2>/dev/null |
        grep -v -e builtins -e /stubs/ | sort -V | tail -1 || true)
    if [ -n "$nvrtc" ]; then
        ln -sf "$nvrtc" "$shim/libnvrtc.so"
    fi
    echo "$shim${dirs:+:$dirs}"
}

case "${1:-}" in
build)
    scripts/setup.sh
    rm -rf .gpu
    mkdir -p .gpu
    tests=$(cargo test --release --locked -p lake-sink --features cuda --lib --no-run \
        --message-format=json-render-diagnostics | executable)
    bench=$(cargo bench --locked -p lake-sink --features cuda --bench tensor --no-run \
        --message-format=json-render-diagnostics | executable)
    cp "$tests" .gpu/lake-sink-tests
    cp "$bench" .gpu/tensor-bench
    strip .gpu/lake-sink-tests .gpu/tensor-bench
    git describe --always --dirty > .gpu/commit
    du -sh .gpu
    echo 'next: device run, command "scripts/gpu-check.sh run", carry [".gpu"], timeout 600'
    ;;
run)
    [ -x .gpu/lake-sink-tests ] && [ -x .gpu/tensor-bench ] ||
        { echo "no .gpu/ binaries: run 'scripts/gpu-check.sh build' here and carry .gpu" >&2; exit 2; }
    out="${OUT:-.gpu/out}"
    mkdir -p "$out"
    export LD_LIBRARY_PATH="$(cuda_library_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LAKEUNION_REQUIRE_GPU=1
    {
        echo "binaries built at commit $(cat .gpu/commit 2>/dev/null || echo unknown)"
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
        nvidia-smi || true
        ls -l /tmp/lakeunion-cuda
    } 2>&1 | tee "$out/machine.txt"
    status=0
    # every GPU test, one at a time, with what each prints
    .gpu/lake-sink-tests gpu --test-threads=1 --nocapture 2>&1 | tee "$out/gpu-tests.log" || status=1
    if [ "${2:-}" != tests ]; then
        BENCH_ITERS="${BENCH_ITERS:-5}" .gpu/tensor-bench --bench 2>&1 | tee "$out/tensor-bench.log" || status=1
    fi
    exit $status
    ;;
*)
    echo "usage: scripts/gpu-check.sh build | run [tests]" >&2
    exit 2
    ;;
esac
