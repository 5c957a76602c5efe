#!/usr/bin/env bash
# Run servebench's GPU measurements on a GPU host that has no package index (the setting of
# docs/results/gpu-*): Python 3.12, torch (CUDA), transformers 5.x, and the offline vLLM 0.26.0 kit
# that shared/gpu/make-wheelhouse.sh builds into .gpu-wheelhouse/part01..partNN (parts.txt lists them;
# each under 24 MB, so two fit one device call beside the checkout).
#
#   benchmarks/gpu_host.sh stage PARTDIR...       copy wheelhouse parts to /root/stage (all but the last)
#   benchmarks/gpu_host.sh install LASTPART       assemble vLLM + fastapi/uvicorn into /root/site, plus
#                                                 the .whl/ set of benchmarks/gpu_wheels.sh if present
#   benchmarks/gpu_host.sh hf-overhead OUT        HF server vs direct generate, batch 1..256
#   benchmarks/gpu_host.sh sdpa-probe OUT         first vs second generate call, cuDNN attention on / off
#   benchmarks/gpu_host.sh compare OUT            vLLM vs HF server, concurrency 1,4,16,64,256, batches 4-32
#   benchmarks/gpu_host.sh stability OUT          two back-to-back compares + benchmarks/stability.py
#   benchmarks/gpu_host.sh two-gpu OUT            needs 2 GPUs: vLLM on GPU 0 and HF on GPU 1 at once vs
#                                                 the one-GPU interleaved run; then a Llama-2-70B shape over
#                                                 both GPUs (vLLM TP=2, HF --device-map auto), taking turns
#                                                 (DRY_RUN=1 prints the commands instead)
#
# The model is a Llama-3.2-1B-shaped directory with no weights (`hf-server make-config --preset
# llama-3.2-1b`, carried from the workstation): random weights on both servers (vLLM --load-format
# dummy). Set SERVEBENCH_COMMIT to the commit being run (the host gets the tree without .git), so
# run.json and the benchmarks' JSON record it.
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${MODEL_DIR:-.cache/models/llama-3.2-1b-shape}

host_env() {
  mkdir -p /tmp/bin
  printf '#!/bin/sh\nexec python3 -m vllm.entrypoints.cli.main "$@"\n' >/tmp/bin/vllm
  chmod +x /tmp/bin/vllm
  export PATH=/tmp/bin:$PATH PYTHONPATH=/root/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  export VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
}

# Sample the GPU's SM clock, utilisation and power every 200 ms into $1 (read-only: nothing is set),
# so slow phases of a run can be matched against the GPU's clock state.
log_gpu_state() {
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw,pstate \
    --format=csv,nounits -lms 200 >"$1" 2>/dev/null &
}

# With SERVEBENCH_GPU_DIAG=1: once a second, the load average and the HF server's Python
# stacks (py-spy, carried as a wheel in .whl/) into $1/diag.txt, to see what stalls slow batches.
sample_hf_server() {
  # set +e: under `set -e -o pipefail` head closing py-spy's pipe would end the loop.
  ( set +e; for _ in $(seq 1 400); do
      pid=$(python3 - <<'PY'
import os
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        if b"servers.hf\x00serve" in open(f"/proc/{p}/cmdline", "rb").read():
            print(p)
            break
    except OSError:
        pass
PY
)
      if [ -n "$pid" ]; then
        echo "=== $(date +%H:%M:%S.%N) load $(cat /proc/loadavg)"
        /root/site/bin/py-spy dump --pid "$pid" 2>&1 | head -n 120
      fi
      sleep 1
    done ) >"$1/diag.txt" 2>&1 &
}

# One comparison in the setting of docs/results/gpu-*: $1 the run directory, $2 the console log.
run_compare() {
  python3 -m loadgen compare --launch --device cuda --dtype bfloat16 --random-weights \
    --model-dir "$model_dir" --gpu-memory-utilization 0.5 --hf-max-batch-size 256 \
    --concurrency 1,4,16,64,256 --input-len 128 --output-len 128 --ignore-eos \
    --no-progress --output-dir "$1" 2>&1 | tee "$2" || true
}

# DRY_RUN=1: print a command instead of running it.
x() {
  if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $*"; else "$@"; fi
}

# Start a server in the background: $1 name, $2 port, $3 log, the rest the command (env VAR=... first).
start_server() {
  local name=$1 port=$2 log=$3
  shift 3
  if [ "${DRY_RUN:-0}" = 1 ]; then echo "+ $* >$log &"; return; fi
  "$@" >"$log" 2>&1 &
  echo $! >"/tmp/$name.pid"
  for _ in $(seq 1 900); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && { echo "$name healthy on $port"; return; }
    kill -0 "$(cat "/tmp/$name.pid")" 2>/dev/null || { echo "$name died; see $log" >&2; tail -20 "$log" >&2; return 1; }
    sleep 1
  done
  echo "$name not healthy after 900 s" >&2
  return 1
}

stop_server() {
  [ "${DRY_RUN:-0}" = 1 ] && { echo "+ stop $1"; return; }
  [ -f "/tmp/$1.pid" ] && { kill -TERM -- "$(cat "/tmp/$1.pid")" 2>/dev/null; wait "$(cat "/tmp/$1.pid")" 2>/dev/null; rm -f "/tmp/$1.pid"; }
  return 0
}

gpu_header() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no nvidia-smi here"
  grep -m1 "model name" /proc/cpuinfo || true
  echo "servebench commit: ${SERVEBENCH_COMMIT:-unknown}"
}

case ${1:-} in
  stage)
    shift
    mkdir -p /root/stage
    for part in "$@"; do cp -r "$part"/. /root/stage/; done ;;
  install)
    mkdir -p /root/stage && cp -r "$2"/. /root/stage/
    bash /root/stage/install-on-host.sh install "$2"
    # Packages of servebench's that neither the GPU image nor the kit has (benchmarks/gpu_wheels.sh).
    # --upgrade: without it pip --target skips directories that exist already (bin/).
    if compgen -G ".whl/*.whl" >/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /root/site .whl/*.whl
    fi
    host_env
    python3 -c "import vllm, fastapi, uvicorn, orjson, httptools, click, psutil, uvloop, tokenizers, prometheus_client; print('vllm', vllm.__version__)"
    [ -x /root/site/bin/py-spy ] && echo "py-spy: /root/site/bin/py-spy" || echo "py-spy: missing (SERVEBENCH_GPU_DIAG=1 would sample nothing)" ;;
  hf-overhead)
    host_env
    gpu_header
    log_gpu_state "$2/gpu-state-hf-overhead.csv"
    python3 -m benchmarks.hf_overhead --device cuda --dtype bfloat16 --random-weights \
      --model-dir "$model_dir" --batch-sizes ${HF_OVERHEAD_BATCHES:-1,4,16,32,64,256} --input-len 128 \
      --output-len 128 --rounds ${HF_OVERHEAD_ROUNDS:-2} ${HF_OVERHEAD_ARGS:-} 2>&1 | tee "$2/hf_overhead${HF_OVERHEAD_TAG:-}.txt"
    cp results/benchmarks/hf_overhead-latest.json "$2/hf_overhead${HF_OVERHEAD_TAG:-}.json" 2>/dev/null || true ;;
  sdpa-probe)
    host_env
    for backend in cudnn auto; do
      python3 -m benchmarks.sdpa_probe --device cuda --random-weights --model-dir "$model_dir" \
        --sdpa-backend "$backend" --batch-sizes 8,32 2>&1 | tee "$2/sdpa_probe-$backend.txt"
    done ;;
  compare)
    host_env
    gpu_header
    run=results/gpu-compare
    log_gpu_state "$2/gpu-state-compare.csv"
    [ "${SERVEBENCH_GPU_DIAG:-0}" = 1 ] && sample_hf_server "$2"
    run_compare "$run" "$2/compare.txt"
    tar -czf "$2/gpu-compare.tar.gz" "$run" ;;
  stability)
    host_env
    gpu_header | tee "$2/host.txt"
    log_gpu_state "$2/gpu-state-stability.csv"
    for name in a b; do
      run_compare "results/stability-$name" "$2/compare-$name.txt"
    done
    python3 -m benchmarks.stability results/stability-a results/stability-b --out "$2/stability.json" \
      2>&1 | tee "$2/stability.txt"
    tar -czf "$2/stability-runs.tar.gz" results/stability-a results/stability-b ;;
  two-gpu)
    host_env
    gpu_header | tee "$2/host.txt"
    gpus=$( (nvidia-smi -L 2>/dev/null || true) | wc -l)
    if [ "$gpus" -lt 2 ] && [ "${DRY_RUN:-0}" != 1 ]; then
      echo "two-gpu: this host has $gpus GPU(s); the run needs 2" >&2; exit 3
    fi
    sweep=(--concurrency 1,4,16,64,256 --input-len 128 --output-len 128 --ignore-eos --no-progress)
    # 1. Each server on its own GPU at the same time, then the same workload on GPU 0 alone, interleaved.
    start_server vllm 8000 "$2/vllm-gpu0.log" env CUDA_VISIBLE_DEVICES=0 python3 -m servers.vllm \
      --device cuda --random-weights --model-dir "$model_dir" --served-model-name llama-3.2-1b-shape \
      --port 8000 --gpu-memory-utilization 0.9
    start_server hf 8001 "$2/hf-gpu1.log" env CUDA_VISIBLE_DEVICES=1 python3 -m servers.hf serve \
      --device cuda --dtype bfloat16 --random-weights --model-dir "$model_dir" \
      --served-model-name llama-3.2-1b-shape --port 8001 --max-model-len 2048 --max-batch-size 256
    x python3 -m loadgen compare vllm=http://127.0.0.1:8000 hf=http://127.0.0.1:8001 --random-weights \
      "${sweep[@]}" --output-dir results/two-gpu-side-by-side 2>&1 | tee "$2/side-by-side.txt" || true
    stop_server vllm; stop_server hf
    x env CUDA_VISIBLE_DEVICES=0 bash "$0" compare-into results/two-gpu-one-gpu "$2/one-gpu.txt"
    # 2. A model that needs both GPUs: the servers take turns (each needs most of both GPUs' memory).
    big=${BIG_MODEL_DIR:-.cache/models/llama-2-70b-shape}
    start_server vllm 8000 "$2/vllm-70b.log" python3 -m servers.vllm --device cuda --random-weights \
      --model-dir "$big" --served-model-name llama-2-70b-shape --port 8000 --gpu-memory-utilization 0.9 \
      --max-model-len 2048 -- --tensor-parallel-size 2
    x python3 -m loadgen run --base-url http://127.0.0.1:8000 --target-name vllm --concurrency 1,4,16,64 \
      --input-len 128 --max-tokens 128 --ignore-eos --warmup 4 --output-dir results/two-gpu-70b-vllm \
      --no-progress 2>&1 | tee "$2/70b-vllm.txt" || true
    stop_server vllm
    start_server hf 8001 "$2/hf-70b.log" python3 -m servers.hf serve --device cuda --device-map auto \
      --dtype bfloat16 --random-weights --model-dir "$big" --served-model-name llama-2-70b-shape \
      --port 8001 --max-model-len 2048 --max-batch-size 64
    x python3 -m loadgen run --base-url http://127.0.0.1:8001 --target-name hf --concurrency 1,4,16,64 \
      --input-len 128 --max-tokens 128 --ignore-eos --warmup 4 --output-dir results/two-gpu-70b-hf \
      --no-progress 2>&1 | tee "$2/70b-hf.txt" || true
    stop_server hf
    x python3 -m loadgen report results/two-gpu-70b-hf results/two-gpu-70b-vllm \
      --output-dir results/two-gpu-70b-report || true
    x tar -czf "$2/two-gpu-runs.tar.gz" results/two-gpu-side-by-side results/two-gpu-one-gpu \
      results/two-gpu-70b-vllm results/two-gpu-70b-hf results/two-gpu-70b-report ;;
  compare-into)
    # One comparison into run directory $2 with its console log at $3 (two-gpu's one-GPU reference).
    host_env
    run_compare "$2" "$3" ;;
  *)
    echo "usage: $0 stage PARTDIR... | install LASTPART | hf-overhead OUT | sdpa-probe OUT | compare OUT | stability OUT | two-gpu OUT" >&2
    exit 2 ;;
esac
