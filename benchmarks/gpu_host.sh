#!/usr/bin/env bash
# Run servebench's GPU measurements on a GPU host that has no package index (the setting of
# docs/results/gpu-*): Python 3.12, torch (CUDA), transformers 5.x, and the offline vLLM 0.26.0 kit
# built by shared/gpu/make-wheelhouse.sh into .gpu-wheelhouse/part{1,2,3}.
#
#   benchmarks/gpu_host.sh stage PARTDIR      copy one wheelhouse part to /root/stage
#   benchmarks/gpu_host.sh install PART3DIR   assemble vLLM + fastapi/uvicorn into /root/site
#   benchmarks/gpu_host.sh hf-overhead OUT    HF server vs direct generate, batch 1..32
#   benchmarks/gpu_host.sh compare OUT        vLLM vs HF server, concurrency 1,4,16,64,256
#
# The model is a Llama-3.2-1B-shaped directory with no weights (`hf-server make-config --preset
# llama-3.2-1b`): random weights on both servers (vLLM --load-format dummy).
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

case ${1:-} in
  stage)
    mkdir -p /root/stage && cp -r "$2"/. /root/stage/ ;;
  install)
    mkdir -p /root/stage && cp -r "$2"/. /root/stage/
    bash /root/stage/install-on-host.sh install "$2"
    # Packages of servebench's that the GPU image lacks (carried as wheels in .whl/).
    if compgen -G ".whl/*.whl" >/dev/null; then
      python3 -m pip install -q --no-index --no-deps --no-compile --target /root/site .whl/*.whl
    fi
    host_env
    python3 -c "import vllm, fastapi, uvicorn, orjson, httptools; print('vllm', vllm.__version__)" ;;
  hf-overhead)
    host_env
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    log_gpu_state "$2/gpu-state-hf-overhead.csv"
    python3 -m benchmarks.hf_overhead --device cuda --dtype bfloat16 --random-weights \
      --model-dir "$model_dir" --batch-sizes 1,4,8,16,32 --input-len 128 --output-len 128 --rounds 2 \
      2>&1 | tee "$2/hf_overhead.txt"
    cp results/benchmarks/hf_overhead-*.json "$2/" 2>/dev/null || true ;;
  compare)
    host_env
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    run=results/gpu-compare
    log_gpu_state "$2/gpu-state-compare.csv"
    [ "${SERVEBENCH_GPU_DIAG:-0}" = 1 ] && sample_hf_server "$2"
    python3 -m loadgen compare --launch --device cuda --dtype bfloat16 --random-weights \
      --model-dir "$model_dir" --gpu-memory-utilization 0.5 --hf-max-batch-size 256 \
      --concurrency 1,4,16,64,256 --input-len 128 --output-len 128 --ignore-eos \
      --no-progress --output-dir "$run" 2>&1 | tee "$2/compare.txt" || true
    tar -czf "$2/gpu-compare.tar.gz" "$run" ;;
  *)
    echo "usage: $0 stage PARTDIR | install PART3DIR | hf-overhead OUT | compare OUT" >&2; exit 2 ;;
esac
