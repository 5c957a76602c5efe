#!/usr/bin/env bash
# Run servebench's GPU measurements on a GPU host that has no package index (the setting of
# docs/results/gpu-*): Python 3.12, torch (CUDA), transformers 5.x, and the offline vLLM 0.26.0 kit
# that shared/gpu/make-wheelhouse.sh builds into .gpu-wheelhouse/part01..partNN (parts.txt lists them;
# each under 24 MB, so two fit one device call beside the checkout).
#
#   benchmarks/gpu_host.sh stage PARTDIR...       copy wheelhouse parts to /root/stage (all but the last)
#   benchmarks/gpu_host.sh install LASTPART       assemble vLLM + fastapi/uvicorn into /root/site, plus
#                                                 the .whl/ set of benchmarks/gpu_wheels.sh if present
#   benchmarks/gpu_host.sh install-hf             the HF server alone, no vLLM kit (.whl/ from
#                                                 gpu_wheels.sh benchmarks/gpu-host-hf-wheels.txt)
#   benchmarks/gpu_host.sh hf-overhead OUT        HF server vs direct generate, batch 1..256
#   benchmarks/gpu_host.sh sdpa-probe OUT         first vs second generate call, cuDNN attention on / off
#   benchmarks/gpu_host.sh compare OUT            vLLM vs HF server, concurrency 1,4,16,64,256, batches 4-32
#   benchmarks/gpu_host.sh stability OUT [RUN...] back-to-back compares (default a b) + benchmarks/stability.py
#   benchmarks/gpu_host.sh hf-burst OUT           HF server alone, concurrency 64/256: fixed fill window vs
#                                                 the burst gap (BURST_GAPS, default "0 10")
#   benchmarks/gpu_host.sh two-gpu OUT [STEP...]   needs 2 GPUs: vLLM on GPU 0 and HF on GPU 1 at once
#                                                 (side-by-side) vs the one-GPU interleaved run (one-gpu),
#                                                 identical weights, 3 repeats; then a Llama-2-70B shape
#                                                 over both GPUs (70b: vLLM TP=2, HF --device-map auto)
#                                                 (DRY_RUN=1 prints the commands instead)
#   benchmarks/gpu_host.sh workstation             on the workstation, not the GPU host: the preset
#                                                 config dirs and the ShareGPT subset, in .cache/gpu/
#   benchmarks/gpu_host.sh claims OUT [STEP...]    issue 11: the vLLM announcement's and Anyscale's claims
#   benchmarks/gpu_host.sh seeds OUT [STEP...]     issue 12: the four write-ups
#                                                 (no STEP: every step in order; the device-call plan,
#                                                 one or two steps a call, is in docs/gpu-plan.md)
#
# Every subcommand but stage/install honours DRY_RUN=1: print each command instead of running it.
# REHEARSE=cpu runs `claims` and `seeds` steps here, on the CPU, before device time is spent on them:
# every preset becomes a two-layer shape of its architecture (`tiny-test`, or `tiny-qwen2-test` for
# Qwen2; under the preset's name), servers and weights take --device cpu and no --gpu-memory-gib,
# HOST_MODELS defaults to /tmp/servebench-rehearsal/models, and python3 is .venv's. The commands, the
# servers' starts and stops, the run directories, the claims rows and the tarballs are the GPU call's;
# only the figures mean nothing.
#
# The model is a Llama-3.2-1B-shaped directory with no weights (`hf-server make-config --preset
# llama-3.2-1b`, carried from the workstation): random weights on both servers (vLLM --load-format
# dummy). Set SERVEBENCH_COMMIT to the commit being run (the host gets the tree without .git), so
# run.json and the benchmarks' JSON record it.
set -euo pipefail
cd "$(dirname "$0")/.."
model_dir=${MODEL_DIR:-.cache/gpu/models/llama-3.2-1b-shape}
rehearse=${REHEARSE:-}
case $rehearse in
  "") device=cuda ;;
  cpu) device=cpu ;;
  *) echo "gpu_host.sh: REHEARSE=$rehearse: the one rehearsal is REHEARSE=cpu" >&2; exit 2 ;;
esac

host_env() {
  if [ "$rehearse" = cpu ]; then
    [ -x .venv/bin/python3 ] || { echo "gpu_host.sh: REHEARSE=cpu runs on .venv: run make install first" >&2; exit 3; }
    export PATH=$PWD/.venv/bin:$PATH PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
    return
  fi
  mkdir -p /tmp/bin
  printf '#!/bin/sh\nexec python3 -m vllm.entrypoints.cli.main "$@"\n' >/tmp/bin/vllm
  chmod +x /tmp/bin/vllm
  export PATH=/tmp/bin:$PATH PYTHONPATH=/root/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  export VLLM_USE_FLASHINFER_SAMPLER=0 PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
}

# The background samplers below, stopped before OUT is packed and whenever the script exits: left
# running, they outlived the call (host_watch for up to 600 s) and wrote into OUT while it was packed.
samplers=()
stop_samplers() {
  local pid
  for pid in ${samplers[@]+"${samplers[@]}"}; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in ${samplers[@]+"${samplers[@]}"}; do
    wait "$pid" 2>/dev/null || true
  done
  samplers=()
}
trap stop_samplers EXIT

# Sample the GPU's SM clock, utilisation and power every 200 ms into $1 (read-only: nothing is set),
# so slow phases of a run can be matched against the GPU's clock state.
log_gpu_state() {
  nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,utilization.gpu,power.draw,pstate \
    --format=csv,nounits -lms 200 >"$1" 2>/dev/null &
  samplers+=($!)
}

# The host's speed through the call (benchmarks/host_watch.py: a Python loop's ns per iteration, the
# CPU time stolen by other guests, every 5 s) into $1, to read the HF server's batches against it.
watch_host() {
  python3 -m benchmarks.host_watch watch --out "$1" --interval 5 --max-seconds 600 >/dev/null 2>&1 &
  samplers+=($!)
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
# At least $MIN_REQUESTS (32) requests a level, so the low-concurrency levels hold dozens of HF
# batches, not 4-8: enough for a run-to-run figure. Stopped cleanly after $STEP_TIMEOUT seconds.
run_compare() {
  set_aside "$1"
  timeout "${STEP_TIMEOUT:-540}" python3 -m loadgen compare --launch --device cuda --dtype bfloat16 \
    --random-weights --model-dir "$model_dir" --gpu-memory-utilization 0.5 --hf-max-batch-size 256 \
    --concurrency 1,4,16,64,256 --min-requests "${MIN_REQUESTS:-32}" --input-len 128 --output-len 128 \
    --ignore-eos --no-progress --output-dir "$1" 2>&1 | tee "$2" || true
}

# A run directory an earlier call on this lease wrote (its files went back with that call) is moved
# aside, since loadgen refuses an --output-dir that already holds a run.
set_aside() {
  [ "${DRY_RUN:-0}" = 1 ] || [ ! -e "$1" ] && return 0
  local aside
  aside="$1.before-$(date -u +%H%M%S)"
  mv "$1" "$aside" && echo "$1 from an earlier call moved to $aside"
}

# DRY_RUN=1: print a command (shell-quoted, one line) instead of running it.
x() {
  if [ "${DRY_RUN:-0}" = 1 ]; then quoted "$@"; else "$@"; fi
}

quoted() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
}

# Start a server in the background: $1 name, $2 port, $3 log, the rest the command (env VAR=... first).
start_server() {
  local name=$1 port=$2 log=$3
  shift 3
  if [ "${DRY_RUN:-0}" = 1 ]; then quoted "$@"; return; fi
  # setsid: the server leads a process group of its own, so stop_server's group kill reaches its
  # children too (a background job of a non-interactive shell shares the script's group).
  setsid "$@" >"$log" 2>&1 &
  echo $! >"/tmp/$name.pid"
  for _ in $(seq 1 900); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && { echo "$name healthy on $port"; return; }
    kill -0 "$(cat "/tmp/$name.pid")" 2>/dev/null || { echo "$name died; see $log" >&2; tail -20 "$log" >&2; return 1; }
    sleep 1
  done
  echo "$name not healthy after 900 s" >&2
  return 1
}

# SIGTERM to the server's process group (its engine processes too), then wait for the server. A
# server stopped by a signal exits non-zero, which `set -e` would take for the script's own failure
# and end the call before its tarball: the status is not the step's.
stop_server() {
  [ "${DRY_RUN:-0}" = 1 ] && { echo "+ stop $1"; return; }
  [ -f "/tmp/$1.pid" ] || return 0
  local pid
  pid=$(cat "/tmp/$1.pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM -- "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "/tmp/$1.pid"
}

gpu_header() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi here"
  grep -m1 "model name" /proc/cpuinfo || true
  echo "servebench commit: ${SERVEBENCH_COMMIT:-unknown}"
  python3 -c "import sys, torch, transformers; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__)" 2>/dev/null || true
  python3 -c "import vllm; print('vllm', vllm.__version__)" 2>/dev/null || true
  # what sets a host-bound server's pace, to tell leases of one GPU kind apart
  python3 -m benchmarks.host_speed --no-write 2>/dev/null || true
}

# --- issues 11 and 12: identical random weights, claims.json -------------------------------------
# Device-time plan (30 min a session, 10 min a call, a fresh machine each session; S1's minutes are
# measured, the rest estimated from them; docs/gpu-plan.md has the table and the reasons):
#   every session: the stage calls `python -m benchmarks.device_carry plan .gpu-wheelhouse` prints
#   (with the checkout at 30 MB, the kit in 17 MB parts: five calls, about 90 s with the machine's
#   start), then install the last part (12) with the session's first step
#   S1  (done: HF_MAX_BATCH=7) claims n1-7b (7.7, with the install) | claims n3-7b (5.5)
#   S2  (done 2026-12-06, after 9 calls got no machine) HF_MAX_BATCH=7 claims capacity-7b (8.0, with the
#       install) | claims noise-7b (1.0)
#   S3  (done 2026-12-06) claims prepare-13b (2.9, with the install) | HF_MAX_BATCH=5 claims n1-13b (7.6) |
#       claims n3-13b (6.6) | claims noise-13b (1.4)
#   S4  (done 2026-12-06) HF_MAX_BATCH=7 STEP_TIMEOUT=480 claims capacity-7b (9.9, with the install) |
#       HF_MAX_BATCH=7 claims n1-7b (9.9: a slower host) | ... SWEEP_CONCURRENCY=16 claims sweep-7b (6.4)
#   S5  (done 2026-12-06) HF_MAX_BATCH=7 claims prepare-7b (5.9, with the install and the compile-
#       cache warm-up) | HF_MAX_BATCH=7 claims n1-7b, twice back to back (9.8, 9.1)
#   S6  (done 2026-12-06) HF_MAX_BATCH=7 SWEEP_CONCURRENCY=16 SWEEP_REQUESTS=64 claims sweep-7b (7.9,
#       with the install and a cold vLLM) | SWEEP_CONCURRENCY=64 SWEEP_REQUESTS=112 (7.4) |
#       SWEEP_CONCURRENCY=1 SWEEP_REQUESTS=32 (9.0)
#   (2026-12-06, no device time left: REHEARSE=cpu of the steps not yet run on a GPU; docs/gpu-plan.md)
#   S7  (done 2026-12-06, after six calls got no machine) STEP_TIMEOUT=420 seeds batches-3b (6.4, with
#       the install) | HF_MAX_BATCH=7 STEP_TIMEOUT=515 claims variance-7b (6.8) | ... claims queue-7b (2.7)
#   S8  (done 2026-12-06) TINYLLAMA_DTYPES=float16 seeds tinyllama (3.6, with the install) |
#       TINYLLAMA_DTYPES=float32 (3.0) | seeds qwen-24g (5.1) | the levels 80/96/112 (2.2, now
#       QWEN_CONCURRENCY=80,96,112 QWEN_REQUESTS=112) | the FP16 repeat (2.2)
#   S9  (tried 2026-12-06/07: no machine stayed long enough; nothing measured) the variance sweep
#       with ~192 requests at concurrency 64 (two calls) | the sweep's repeats
#   S10 (2026-12-07: no machine could start; vLLM's budget restart built instead)
#   S11 (2026-12-07: twelve calls, no machine; the plan below moved on)
#   S12 (done 2026-12-07, one lease) prepare-7b with the install (4.6) | sweep-7b at 64 (6.1) |
#       capacity-7b with CAPACITY_MAX_RATE=8 (5.5) | seeds qwen-24g (5.8) | its levels 80/96/112
#       (2.1) | seeds qwen-alloc (1.1)
#   S13 prepare-7b with the install | variance-7b with N_VARIANCE=192, in two parts | the sweep's
#       repeat or seeds tinyllama with TINYLLAMA_REPEATS=4
# Each run stops cleanly after STEP_TIMEOUT (540 s, the most a step may take: a call holds the machine
# ~50 s longer; compare takes SIGTERM as Ctrl-C, keeping its summaries and stopping its servers) so
# the call returns its files; each call's
# OUT/claims.json is joined afterwards with `python -m benchmarks.claims merge`.
# Preset config dirs are made on the workstation (`gpu_host.sh workstation`: make-config needs the
# SmolLM2 tokenizer, which the host cannot build) and carried in .cache/gpu; the weights are drawn on
# the host into $HOST_MODELS (outside the carried paths, which each device call replaces), once per
# lease. Both servers load those files: no --random-weights, no --load-format dummy.
gpu_cache=${GPU_CACHE:-.cache/gpu}
host_models_default=/root/models
[ "$rehearse" = cpu ] && host_models_default=${TMPDIR:-/tmp}/servebench-rehearsal/models
host_models=${HOST_MODELS:-$host_models_default}
sharegpt=${SHAREGPT:-$gpu_cache/sharegpt-subset.json}
# Each server's GPU memory (GiB) for a model shape: what vLLM had in the claim's own setting, 90%
# (its default --gpu-memory-utilization) of the card the claim was measured on. Both servers run on
# one card at once, so two budgets must fit it: 2 x 36 GiB fits an 80 GB H100 beside two CUDA
# contexts. GPU_BUDGET_GIB overrides every shape.
budget_for() {
  if [ -n "${GPU_BUDGET_GIB:-}" ]; then echo "$GPU_BUDGET_GIB"; return; fi
  case $1 in
    llama-2-7b) echo 22 ;;       # A10G, 24 GiB (the announcement's LLaMA-7B); also write-up 4's table
    llama-2-13b) echo 36 ;;      # A100-40GB (the announcement's LLaMA-13B)
    llama-3.2-3b) echo 20 ;;     # L4, 22.5 GiB visible (write-up 1)
    tinyllama-1.1b) echo 13 ;;   # T4, 15 GiB (write-up 2)
    qwen2.5-7b) echo 24 ;;       # the same 24 GiB on both servers (write-up 3: an RTX 3090's 24 GB)
    *) echo 36 ;;
  esac
}

# The GPU memory cap of preset $1, as server or compare arguments: none on the CPU (REHEARSE=cpu),
# where the servers refuse --gpu-memory-gib.
memory_args() {
  if [ "$device" = cuda ]; then echo --gpu-memory-gib "$(budget_for "$1")"; fi
}
step_timeout=${STEP_TIMEOUT:-540}       # a run stops cleanly (its finished requests on disk) before 10 min
if [ "$step_timeout" -gt 540 ] 2>/dev/null; then
  echo "gpu_host.sh: STEP_TIMEOUT=$step_timeout: a call holds the machine ~50 s beyond its step, so more than 540 may pass a 600 s call limit and lose the call's files" >&2
fi
step_deadline=$((SECONDS + step_timeout))  # set again as each step starts
slo=(--slo ttft:2000 --slo tpot:100)
# The servers the seeds steps start themselves (VLLM_PORT, HF_PORT: a rehearsal beside other servers).
vllm_port=${VLLM_PORT:-8000}
hf_port=${HF_PORT:-8001}
results=${RESULTS:-results}

# The host copy of preset $1's directory, with seeded random weights in precision $2 (default bf16).
# REHEARSE=cpu: a two-layer shape of the preset's architecture stands in for it (made here if missing):
# tiny-qwen2-test for the Qwen2 presets, so vLLM's Qwen2 path is rehearsed too, else tiny-test.
ensure_weights() {
  local preset=$1 dtype=${2:-bfloat16} dir="$host_models/$1-shape" source=$1
  if [ "$rehearse" = cpu ]; then
    case $preset in qwen*) source=tiny-qwen2-test ;; *) source=tiny-test ;; esac
    [ -f "$gpu_cache/models/$source-shape/config.json" ] \
      || x python3 -m servers.hf make-config --preset "$source" "$gpu_cache/models/$source-shape" >&2
  fi
  if [ ! -f "$gpu_cache/models/$source-shape/config.json" ] && [ "${DRY_RUN:-0}" != 1 ]; then
    echo "no $gpu_cache/models/$source-shape: run 'benchmarks/gpu_host.sh workstation' and carry $gpu_cache" >&2
    exit 3
  fi
  x mkdir -p "$host_models"
  [ -f "$dir/config.json" ] || x cp -r "$gpu_cache/models/$source-shape" "$dir"
  x python3 -m servers.hf init-weights "$dir" --seed "${WEIGHTS_SEED:-0}" --dtype "$dtype" --device "$device"
}

# The HF server's batch size for preset $1 as a deployment picks it (benchmarks/hf_batch_probe.py):
# $HF_MAX_BATCH if set, else an earlier probe's answer in $2, else a probe now (its JSON into $2).
# $2 lies on the host, outside OUT, so the calls of one lease share it (each call's OUT starts empty).
hf_batch() {
  local preset=$1 out=$2
  if [ -n "${HF_MAX_BATCH:-}" ]; then echo "$HF_MAX_BATCH"; return; fi
  # The probe fills CUDA memory: on the CPU a small batch stands in for its answer.
  if [ "$rehearse" = cpu ]; then echo 8; return; fi
  local probe=(python3 -m benchmarks.hf_batch_probe --model-dir "$host_models/$preset-shape" --device cuda
    --gpu-memory-gib "$(budget_for "$preset")" --prompt-len 1024 --total-len 2048 --verify --out "$out")
  if [ "${DRY_RUN:-0}" = 1 ]; then
    quoted "${probe[@]}" >&2
    echo 64  # stands in for the probe's answer
    return
  fi
  [ -f "$out" ] || "${probe[@]}" >&2
  python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['max_batch_size'])" "$out"
}

# One `loadgen compare` into $results/$1 (RESULTS, default results/), its console in OUT/$1.txt,
# its run directory tarred into OUT.
# Its limit is what is left of the step's STEP_TIMEOUT: a step of several runs (batches-3b, tinyllama)
# stops cleanly within it as a step of one run does, so the call still returns its files.
compare_run() {
  local name=$1 left=$((step_deadline - SECONDS))
  shift
  if [ "${DRY_RUN:-0}" = 1 ]; then
    quoted timeout "$left" python3 -m loadgen compare "$@" --no-progress --output-dir "$results/$name"
    return
  fi
  if [ "$left" -le 10 ]; then
    echo "$name: not run, the step's $step_timeout s (STEP_TIMEOUT) are spent" | tee "$out/$name.txt" >&2
    return 0
  fi
  set_aside "$results/$name"
  timeout "$left" python3 -m loadgen compare "$@" --no-progress --output-dir "$results/$name" \
    2>&1 | tee "$out/$name.txt" || true
  tar -czf "$out/$name.tar.gz" "$results/$name" || true
}

# step_run_args=(--run RUN ...): this call's run $results/$1, then every other run whose path starts
# with $2 that earlier calls on the lease left on the host (a sweep run in parts, or finer levels
# run later), set-aside runs (.before-*) excepted; the rows read them together.
step_runs() {
  local d
  step_run_args=(--run "$results/$1")
  for d in "$2"*; do
    case $d in "$results/$1"|*.before-*) continue ;; esac
    [ -f "$d/run.json" ] && step_run_args+=(--run "$d")
  done
  return 0
}

# A claims.json row: claim id $1 measured from the run directories that follow (--level etc. too).
# Each call writes its own OUT/claims.json; `python -m benchmarks.claims merge` joins the calls'.
# A rehearsal's rows say so in their notes: their figures are the CPU's and a tiny shape's.
claim() {
  local rehearsal=()
  [ "$rehearse" = cpu ] && rehearsal=(--note "REHEARSAL: the CPU and a two-layer tiny shape, not a result")
  x python3 -m benchmarks.claims add "$out/claims.json" "$@" "${rehearsal[@]}" || true
}

# A device call brings back at most 8 files from OUT (seeds batches-3b writes 12): past that, all
# but claims.json and host.txt go into OUT/call.tar.gz, so nothing is left behind on the host.
pack_out() {
  [ "${DRY_RUN:-0}" = 1 ] && return 0
  stop_samplers
  local n packed=${TMPDIR:-/tmp}/servebench-call.$$.tar.gz
  n=$(find "$out" -maxdepth 1 -type f | wc -l)
  [ "$n" -le 8 ] && return 0
  tar -czf "$packed" -C "$out" --exclude=./claims.json --exclude=./host.txt . 2>/dev/null || true
  find "$out" -mindepth 1 -maxdepth 1 ! -name claims.json ! -name host.txt -exec rm -rf {} +
  mv "$packed" "$out/call.tar.gz"
  echo "OUT held $n files, more than a device call brings back: all but claims.json and host.txt are in $out/call.tar.gz"
}

# compare --launch on a host copy with identical weights; each server gets the shape's budget, and
# vLLM is restarted with --kv-cache-memory-bytes when its CUDA graphs take it over (once per shape
# and lease: later starts apply the plan the first saved). VLLM_OVER_BUDGET=keep matches the runs
# before session 10, where vLLM kept the excess (0.38-1.20 GiB by its own log).
launch_args() {
  local over=()
  [ "$device" = cuda ] && over=(--vllm-over-budget "${VLLM_OVER_BUDGET:-restart}")
  echo --launch --device "$device" --dtype "${2:-bfloat16}" --model-dir "$host_models/$1-shape" \
    $(memory_args "$1") "${over[@]}" --parity report
}

claims_step() {
  local step=$1 b
  case $step in
    prepare-7b|prepare-13b)
      local preset=llama-2-${step#prepare-}
      ensure_weights "$preset"
      b=$(hf_batch "$preset" "$host_models/hf-batch-$preset.json")
      if [ -f "$host_models/hf-batch-$preset.json" ] || [ "${DRY_RUN:-0}" = 1 ]; then
        x cp "$host_models/hf-batch-$preset.json" "$out/"
      fi
      # A short compare with the long steps' launch options: vLLM's first start on a lease compiles
      # and fills its torch.compile cache (~/.cache/vllm), so the measuring calls that follow start
      # it warm (session 5: healthy after 66-83 s warm against 149 s cold; earlier leases 55-99 s
      # against 86-134 s): 30-80 s more of a call's 10 minutes go to the HF level, and every
      # measuring call starts alike. Its figures (8 requests) are a smoke test, not a result.
      # shellcheck disable=SC2046
      compare_run "claims-warm-$preset" $(launch_args "$preset") --hf-max-batch-size "$b" \
        --workload sharegpt --dataset-path "$sharegpt" --ignore-eos --concurrency 8 --num-requests 8 \
        --warmup 0 --offline-batches none ;;
    n1-7b|n3-7b|n1-13b|n3-13b)
      # Throughput as the announcement measured it: every request available at once (closed loop,
      # concurrency = requests, no warm-up), ShareGPT lengths, max_tokens = the recorded answer's.
      local n=${step%%-*} shape=${step#*-}
      # Requests at once: what the HF server, at the batch that fits the claim's card (a handful of
      # worst-case rows), finishes within a call. Measured on an H100 (7B, 7 rows): 18.3 ms a step,
      # 128 requests in 266 s; 13B (5 rows): 29.8 ms a step, 48 requests in 229 s. Each batch runs
      # as long as its longest ShareGPT answer. n=3 sends a third as many requests (as many
      # completions). So few requests let vLLM's longest answer set its time (13B: 955 tokens, the
      # whole 11.9 s level): the results README reads that drain beside the whole-run figure.
      # The last requests wait minutes in the HF server's queue for their first token: the TTFT and
      # request limits are the step's own (the 300 s TTFT default would cut the queue's tail).
      local preset=llama-2-$shape count
      count=${N_SATURATION:-$([ "$shape" = 13b ] && echo 48 || echo 128)}
      [ "$n" = n3 ] && count=$((count / 3))
      ensure_weights "$preset"
      b=$(hf_batch "$preset" "$host_models/hf-batch-$preset.json")
      # shellcheck disable=SC2046
      compare_run "claims-$step" $(launch_args "$preset") --hf-max-batch-size "$b" \
        --workload sharegpt --dataset-path "$sharegpt" --ignore-eos --n "${n#n}" \
        --concurrency "$count" --num-requests "$count" --warmup 0 --offline-batches none \
        --ttft-timeout "$step_timeout" --request-timeout "$step_timeout"
      claim "vllm-hf-$step" --run "$results/claims-$step" --level "concurrency=$count" \
        --note "HF --max-batch-size $b (largest that fits $(budget_for "$preset") GiB at 1024 in / 2048 total)" ;;
    sweep-7b)
      # One call holds one or two levels, not all three: the HF server at 7 rows turns out ~178
      # tok/s on ShareGPT (an H100, 2026-12-05), so 128 requests at concurrency 64 take ~270 s
      # and 32 at concurrency 1 ~210 s. SWEEP_CONCURRENCY picks the levels, SWEEP_REQUESTS the
      # requests per level (default: compare's own, at least 32); each call its own run directory.
      local levels=${SWEEP_CONCURRENCY:-1,16,64} name
      name=claims-sweep-7b-c${levels//,/-}
      local requests=()
      [ -n "${SWEEP_REQUESTS:-}" ] && requests=(--num-requests "$SWEEP_REQUESTS")
      ensure_weights llama-2-7b
      b=$(hf_batch llama-2-7b "$host_models/hf-batch-llama-2-7b.json")
      # shellcheck disable=SC2046
      compare_run "$name" $(launch_args llama-2-7b) --hf-max-batch-size "$b" \
        --workload sharegpt --dataset-path "$sharegpt" --ignore-eos --concurrency "$levels" \
        "${requests[@]}" --warmup 8 --offline-batches none "${slo[@]}"
      case ,$levels, in
        *,64,*) claim llama2-7b-toks-ratio --run "$results/$name" --level concurrency=64 ;;
      esac ;;
    capacity-7b)
      # Capacity at the interactive SLO (TTFT 2 s, TPOT 100 ms), Poisson arrivals, ShareGPT lengths.
      # One open-loop level at 2 req/s (16 requests) first, then the search from 2 req/s: up to 16
      # (vLLM turns out ~7 req/s at saturation on these lengths, 3,441 tok/s over ~466-token
      # answers), down to 0.25 (CAPACITY_MIN_RATE), 7 probes a server. Measured on an H100
      # (2026-12-06, before probes were judged for bursts): the HF server failed at 2, 1, 0.5 and
      # 0.25 req/s (a request arriving mid-batch waits the whole batch, ~14 s at 7 rows), each probe
      # ended early in 23-42 s; vLLM passed 2-16 req/s, but only as bursts (5-7 s of arrivals
      # against a 2.6-3.4 s median E2E). Probes now span 3 median latencies of the last passing
      # probe (at 8 req/s ~65 requests, ~18 s with the drain), and a burst pass is run again longer.
      # Measured again (2026-12-06, session 4, 592 s with the install): vLLM sustained 8 req/s, its
      # longer probe at 16 was cut by STEP_TIMEOUT (interrupted: no verdict); HF below 0.25.
      # Probes are now sized with a margin for Poisson gaps (at 8 req/s ~90 requests).
      ensure_weights llama-2-7b
      b=$(hf_batch llama-2-7b "$host_models/hf-batch-llama-2-7b.json")
      # shellcheck disable=SC2046
      compare_run claims-capacity-7b $(launch_args llama-2-7b) --hf-max-batch-size "$b" \
        --workload sharegpt --dataset-path "$sharegpt" --ignore-eos --rate 2 --min-requests 16 \
        --arrival poisson --capacity-search --capacity-max-rate "${CAPACITY_MAX_RATE:-16}" \
        --capacity-min-rate "${CAPACITY_MIN_RATE:-0.25}" --capacity-steps "${CAPACITY_STEPS:-7}" \
        --offline-batches none "${slo[@]}"
      claim llama2-7b-traffic --run "$results"/claims-capacity-7b ;;
    queue-7b)
      # Whether the HF server's step depends on the level or on the host: on session 6's lease its
      # median step at 7 rows was 24.2 ms at concurrency 16 and 20.7 ms at 64 in the next call (same
      # prompts, same GPU clocks; session 4's concurrency 16 read 24.5). The HF server alone, started
      # as compare starts it (servers/vllm/launch.py HfLaunch), levels taken in turn on that one
      # process (QUEUE_LEVELS), 128 in / 256 out, a batch of warm-up requests and QUEUE_REQUESTS
      # measured a level (28: 4 batches of ~5.5 s); each level's /batches kept apart, then
      # `benchmarks.batch_steps` compares the runs. About 3 minutes with the weights in place. All
      # but the verdict goes into one tarball: a call brings back at most 8 files.
      local model="$host_models/llama-2-7b-shape" dir=$results/queue-7b i=0 last=0 steps=() c left console
      ensure_weights llama-2-7b
      b=$(hf_batch llama-2-7b "$host_models/hf-batch-llama-2-7b.json")
      set_aside "$dir"
      console=/dev/null
      [ "${DRY_RUN:-0}" = 1 ] || { mkdir -p "$dir" && console=$dir/console.txt; }
      # shellcheck disable=SC2046
      start_server hf-queue 8012 "$dir/hf.log" python3 -m servers.hf serve --model-dir "$model" \
        --served-model-name llama-2-7b-shape --host 127.0.0.1 --port 8012 --device "$device" --dtype bfloat16 \
        --max-model-len 2048 --max-batch-size "$b" --max-wait-ms 10 --burst-gap-ms 10 \
        $(memory_args llama-2-7b) || { tar -czf "$out/queue-7b.tar.gz" "$dir" || true; return 0; }
      for c in ${QUEUE_LEVELS:-16 64 16 64}; do
        i=$((i + 1))
        left=$((step_deadline - SECONDS))
        [ "$left" -gt 10 ] || { echo "queue-7b: STEP_TIMEOUT reached before run $i" >&2; break; }
        x timeout "$left" python3 -m loadgen run --base-url http://127.0.0.1:8012 --target-name hf \
          --tokenizer "$model" --input-len 128 --output-len 256 --ignore-eos --concurrency "$c" \
          --num-requests "${QUEUE_REQUESTS:-28}" --warmup "$b" --no-progress \
          --output-dir "$dir/$i-c$c" 2>&1 | tee -a "$console" || true
        x curl -s "http://127.0.0.1:8012/batches?after=$last" -o "$dir/batches-$i-c$c.json" || true
        if [ "${DRY_RUN:-0}" != 1 ]; then
          last=$(python3 -c 'import json, sys; print(max([int(sys.argv[2])] + [b["batch_id"] for b in json.load(open(sys.argv[1]))["batches"]]))' \
            "$dir/batches-$i-c$c.json" "$last" 2>/dev/null || echo "$last")
        fi
        steps+=("c$c=$dir/batches-$i-c$c.json")
      done
      stop_server hf-queue
      x python3 -m benchmarks.batch_steps "${steps[@]}" 2>&1 | tee "$out/queue-7b-steps.txt" || true
      x tar -czf "$out/queue-7b.tar.gz" "$dir" || true ;;
    variance-7b)
      # Anyscale's setting: fixed prompts, the same mean output length, growing spread. Session 7 sent
      # 64 requests a level at concurrency 64: none joined later, so vLLM never refilled a slot. With
      # several times more (N_VARIANCE=192: HF ~130 + 230 + 340 s at 18.2 ms a step) the sweep needs
      # two calls: VARIANCE_SPREADS=fixed,uniform, then =exponential. Each part is a run of its own;
      # the rows read every part on the host so far (parts of earlier calls stay in $results).
      local name=claims-variance-7b spreads=()
      if [ -n "${VARIANCE_SPREADS:-}" ]; then
        name=claims-variance-7b-${VARIANCE_SPREADS//,/-}
        spreads=(--variance-spreads "$VARIANCE_SPREADS")
      fi
      ensure_weights llama-2-7b
      b=$(hf_batch llama-2-7b "$host_models/hf-batch-llama-2-7b.json")
      # shellcheck disable=SC2046
      compare_run "$name" $(launch_args llama-2-7b) --hf-max-batch-size "$b" \
        --sweep output-variance "${spreads[@]}" --concurrency 64 --input-len 128 --output-len 256 \
        --ignore-eos --num-requests "${N_VARIANCE:-64}" --warmup 0 --offline-batches none
      if [ -n "${VARIANCE_SPREADS:-}" ]; then
        step_runs "$name" "$results/claims-variance-7b-"
      else
        step_run_args=(--run "$results/$name")  # the whole sweep in one run
      fi
      claim static-batching-variance "${step_run_args[@]}"
      claim static-batching-falls "${step_run_args[@]}" ;;
    noise-7b|noise-13b)
      # How far greedy decoding agrees with itself on this shape (batch 1 against one batch, bf16
      # against fp32, plain transformers): the noise floor the parity gate's agreement is read
      # against. Run with no server up: the fp32 copy of the 13B shape takes 50 GB.
      local preset=llama-2-${step#noise-}
      ensure_weights "$preset"
      x python3 -m benchmarks.greedy_noise --model-dir "$host_models/$preset-shape" --device "$device" \
        --dtypes bfloat16,float32 2>&1 | grep -v "Loading weights" | tee "$out/greedy-noise-$preset.txt" || true
      x cp results/benchmarks/greedy_noise-latest.json "$out/greedy-noise-$preset.json" || true ;;
    *) echo "claims: unknown step $step (prepare-7b n1-7b n3-7b prepare-13b n1-13b n3-13b sweep-7b capacity-7b variance-7b noise-7b noise-13b queue-7b)" >&2; exit 2 ;;
  esac
}

seeds_step() {
  local step=$1 o b
  case $step in
    prepare)
      ensure_weights llama-3.2-3b
      ensure_weights tinyllama-1.1b float32  # fp32 master: both precisions round the same values
      ensure_weights qwen2.5-7b ;;
    batches-3b)
      # Write-up 1: offline batches 4/8/16/32; the servers start once, three output lengths.
      local dir=$host_models/llama-3.2-3b-shape
      ensure_weights llama-3.2-3b
      # A server that does not start ends this step, not the call: its log is in OUT, and the
      # call's later steps still run.
      # shellcheck disable=SC2046
      start_server vllm "$vllm_port" "$out/seeds-3b-vllm.log" python3 -m servers.vllm --device "$device" \
        --model-dir "$dir" --served-model-name llama-3.2-3b-shape --port "$vllm_port" \
        $(memory_args llama-3.2-3b) --max-model-len 2048 || { stop_server vllm; return 0; }
      # shellcheck disable=SC2046
      start_server hf "$hf_port" "$out/seeds-3b-hf.log" python3 -m servers.hf serve --device "$device" \
        --dtype bfloat16 --model-dir "$dir" --served-model-name llama-3.2-3b-shape --port "$hf_port" \
        --max-model-len 2048 --max-batch-size 32 $(memory_args llama-3.2-3b) \
        || { stop_server vllm; stop_server hf; return 0; }
      for o in 64 256 512; do
        compare_run "seeds-3b-o$o" vllm="http://127.0.0.1:$vllm_port" hf="http://127.0.0.1:$hf_port" \
          --parity report --concurrency 1 --num-requests 4 --warmup 1 --input-len 128 \
          --output-len "$o" --ignore-eos --offline-batches 4,8,16,32
        for b in 4 8 16 32; do claim "l32-3b-ratio-b$b-o$o" --run "$results/seeds-3b-o$o"; done
      done
      stop_server vllm; stop_server hf
      for b in 4 8 16 32; do
        claim "l32-3b-vllm-b$b" --run "$results"/seeds-3b-o256
        claim "l32-3b-hf-b$b" --run "$results"/seeds-3b-o256
      done ;;
    tinyllama)
      # Write-up 2: both precisions on both servers, launched here so load time is measured; the
      # same fp32 weights rounded to fp16 by each server. TINYLLAMA_DTYPES=float16, then =float32 in
      # the next call on the lease, splits the step in two where one call cannot hold both launches
      # (each precision compiles vLLM anew): the rows of a run made by an earlier call are read from
      # its directory, which stays on the host.
      # 256 requests are one HF batch, and session 8's two fp16 runs on one lease read 1.32x and
      # 1.84x as the host's speed flipped: TINYLLAMA_REPEATS (default 3) repeats the level in turns,
      # a few seconds each, so the ratio has an interval.
      # vLLM keeps its own sizing here (VLLM_OVER_BUDGET=keep unless set): a restart to fit the 13 GiB
      # would make the serving start's load time a warm one, and write-up 2 measures load time; its
      # CUDA graphs' excess (0.38 GiB at session 8) is in the report.
      local VLLM_OVER_BUDGET=${VLLM_OVER_BUDGET:-keep}
      ensure_weights tinyllama-1.1b float32
      for o in ${TINYLLAMA_DTYPES:-float16 float32}; do
        # shellcheck disable=SC2046
        compare_run "seeds-tinyllama-$o" $(launch_args tinyllama-1.1b "$o") --hf-max-batch-size 256 \
          --concurrency 256 --num-requests 256 --repeats "${TINYLLAMA_REPEATS:-3}" --warmup 0 \
          --input-len 128 --output-len 256 --ignore-eos --offline-batches none
      done
      for o in fp16 fp32; do
        local run=$results/seeds-tinyllama-float${o#fp}
        claim "tinyllama-vllm-$o-toks" --run "$run"; claim "tinyllama-hf-$o-toks" --run "$run"
        claim "tinyllama-vllm-$o-load" --run "$run"; claim "tinyllama-hf-$o-load" --run "$run"
        claim "tinyllama-agree-$o" --run "$run"
      done
      claim tinyllama-fp16-ratio --run "$results"/seeds-tinyllama-float16
      claim tinyllama-agree-vllm-fp16-fp32 --run "$results"/seeds-tinyllama-float16 --run "$results"/seeds-tinyllama-float32
      claim tinyllama-agree-hf-fp16-fp32 --run "$results"/seeds-tinyllama-float16 --run "$results"/seeds-tinyllama-float32 ;;
    qwen-24g)
      # Write-up 3: the same 24 GiB on both servers; the most concurrent requests without errors.
      # QWEN_CONCURRENCY (with QWEN_REQUESTS) runs finer levels between the first run's (session 8:
      # 80,96,112 after HF first failed at 128) into a run of their own; the rows read every
      # seeds-qwen-24g run on the host as one sweep, its levels in load order.
      local name=seeds-qwen-24g
      [ -n "${QWEN_CONCURRENCY:-}" ] && name=seeds-qwen-24g-${QWEN_CONCURRENCY//,/-}
      ensure_weights qwen2.5-7b
      # shellcheck disable=SC2046
      compare_run "$name" $(launch_args qwen2.5-7b) --hf-max-batch-size 256 \
        --concurrency "${QWEN_CONCURRENCY:-16,32,64,128,256}" --num-requests "${QWEN_REQUESTS:-256}" \
        --warmup 0 --input-len 512 --output-len 128 --ignore-eos --offline-batches none
      x grep -h "Maximum concurrency" "$results/$name/logs/vllm.log" || true
      step_runs "$name" "$results/seeds-qwen-24g"
      claim qwen-concurrency-ratio "${step_run_args[@]}"
      claim qwen-hf-max-concurrency "${step_run_args[@]}"
      claim qwen-vllm-max-concurrency "${step_run_args[@]}"
      claim tgi-3.5x ;;
    qwen-alloc)
      # Write-up 3's HF limit under each allocator setting. Session 8's HF server served 80 clean and
      # ran out of memory in the prefill from 96, with 2.65 GiB reserved but unallocated: full-length
      # batches of 512 in / 128 out under the same 24 GiB cap, ascending to the first out-of-memory
      # failure (QWEN_ALLOC_BATCHES), with PyTorch's default allocator, then with expandable segments
      # (what `loadgen compare --hf-cuda-alloc-conf` gives the HF server). The HF side alone: no vLLM
      # kit is needed (`install-hf` with .whl in the same call), and no row is added (the answer goes
      # beside the qwen rows, not in place of them).
      ensure_weights qwen2.5-7b
      if [ "$rehearse" = cpu ]; then
        echo "qwen-alloc: measures CUDA memory; nothing to rehearse on the CPU" | tee "$out/qwen-alloc.txt"
        return 0
      fi
      local tag alloc
      for tag in default expandable_segments; do
        alloc=()
        [ "$tag" = expandable_segments ] && alloc=(PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)
        x env "${alloc[@]}" python3 -m benchmarks.hf_batch_probe --model-dir "$host_models/qwen2.5-7b-shape" \
          --device cuda --gpu-memory-gib "$(budget_for qwen2.5-7b)" --prompt-len 512 --total-len 640 \
          --try-batches "${QWEN_ALLOC_BATCHES:-80,88,96,104,112,128}" --out "$out/qwen-alloc-$tag.json" \
          2>&1 | tee "$out/qwen-alloc-$tag.txt" || echo "qwen-alloc: the $tag probe failed (see $out/qwen-alloc-$tag.txt)" >&2
      done ;;
    *) echo "seeds: unknown step $step (prepare batches-3b tinyllama qwen-24g qwen-alloc)" >&2; exit 2 ;;
  esac
}

# --- issue 15: two GPUs ----------------------------------------------------------------------------
# The 1B shape with identical saved weights: the greedy parity gate runs across the two GPUs too.
two_gpu_sweep=(--concurrency 1,4,16,64,256 --input-len 128 --output-len 128 --ignore-eos
  --repeats "${REPEATS:-3}" --parity report)

two_gpu_step() {
  local small=$host_models/llama-3.2-1b-shape big=$host_models/llama-2-70b-shape weights=()
  case $1 in
    side-by-side)
      # Each server on its own GPU at the same time (the compose two-gpu setting, without Docker).
      ensure_weights llama-3.2-1b
      start_server vllm 8000 "$out/vllm-gpu0.log" env CUDA_VISIBLE_DEVICES=0 python3 -m servers.vllm \
        --device cuda --model-dir "$small" --served-model-name llama-3.2-1b-shape --port 8000 \
        --gpu-memory-utilization 0.9
      start_server hf 8001 "$out/hf-gpu1.log" env CUDA_VISIBLE_DEVICES=1 python3 -m servers.hf serve \
        --device cuda --dtype bfloat16 --model-dir "$small" --served-model-name llama-3.2-1b-shape \
        --port 8001 --max-model-len 2048 --max-batch-size 256
      compare_run two-gpu-side-by-side vllm=http://127.0.0.1:8000 hf=http://127.0.0.1:8001 \
        "${two_gpu_sweep[@]}"
      stop_server vllm; stop_server hf ;;
    one-gpu)
      # The same workload with both servers on GPU 0, interleaved: do the ratios agree within their CIs?
      ensure_weights llama-3.2-1b
      ( x export CUDA_VISIBLE_DEVICES=0
        compare_run two-gpu-one-gpu --launch --device cuda --dtype bfloat16 --model-dir "$small" \
          --gpu-memory-utilization 0.5 --hf-max-batch-size 256 "${two_gpu_sweep[@]}" ) ;;
    70b)
      # A model that needs both GPUs; the servers take turns (each needs most of both GPUs' memory).
      # Saved weights need ~130 GiB where they are written ($HOST_MODELS); without that room both
      # servers draw their own random weights and the parity gate is skipped (noted in OUT).
      local avail
      avail=$(df --output=avail -BG "$(dirname "$host_models")" 2>/dev/null | tail -1 | tr -dc 0-9)
      if [ "${DRY_RUN:-0}" = 1 ] || [ "${avail:-0}" -ge 135 ]; then
        ensure_weights llama-2-70b
      else
        echo "70b: ${avail:-?} GiB free under $(dirname "$host_models"), 70B needs ~130: random weights on each server" \
          | tee "$out/two-gpu-notes.txt"
        weights=(--random-weights)
        x mkdir -p "$big"
        [ -f "$big/config.json" ] || x cp -r "$gpu_cache/models/llama-2-70b-shape/." "$big"
      fi
      start_server vllm 8000 "$out/vllm-70b.log" python3 -m servers.vllm --device cuda "${weights[@]}" \
        --model-dir "$big" --served-model-name llama-2-70b-shape --port 8000 --gpu-memory-utilization 0.9 \
        --max-model-len 2048 -- --tensor-parallel-size 2
      set_aside results/two-gpu-70b-vllm
      set_aside results/two-gpu-70b-hf
      x timeout "$step_timeout" python3 -m loadgen run --base-url http://127.0.0.1:8000 --target-name vllm \
        --concurrency 1,4,16,64 --input-len 128 --max-tokens 128 --ignore-eos --warmup 4 \
        --output-dir results/two-gpu-70b-vllm --no-progress || true
      stop_server vllm
      start_server hf 8001 "$out/hf-70b.log" python3 -m servers.hf serve --device cuda --device-map auto \
        --dtype bfloat16 "${weights[@]}" --model-dir "$big" --served-model-name llama-2-70b-shape \
        --port 8001 --max-model-len 2048 --max-batch-size 64
      x timeout "$step_timeout" python3 -m loadgen run --base-url http://127.0.0.1:8001 --target-name hf \
        --concurrency 1,4,16,64 --input-len 128 --max-tokens 128 --ignore-eos --warmup 4 \
        --output-dir results/two-gpu-70b-hf --no-progress || true
      stop_server hf
      x python3 -m loadgen report results/two-gpu-70b-hf results/two-gpu-70b-vllm \
        --output-dir results/two-gpu-70b-report || true
      x tar -czf "$out/two-gpu-70b.tar.gz" results/two-gpu-70b-vllm results/two-gpu-70b-hf \
        results/two-gpu-70b-report || true ;;
    *) echo "two-gpu: unknown step $1 (side-by-side one-gpu 70b)" >&2; exit 2 ;;
  esac
}

case ${1:-} in
  workstation)
    # The carried inputs of `claims` and `seeds` (run here, where the SmolLM2 tokenizer can be built).
    for preset in llama-2-7b llama-2-13b llama-2-70b llama-3.2-1b llama-3.2-3b tinyllama-1.1b qwen2.5-7b; do
      x python3 -m servers.hf make-config --preset "$preset" "$gpu_cache/models/$preset-shape"
    done
    x python3 -m benchmarks.sharegpt_subset --count 3000 --out "$sharegpt"
    x du -sh "$gpu_cache" ;;
  claims|seeds)
    kind=$1 out=${2:?usage: $0 $1 OUT [STEP...]}
    shift 2
    mkdir -p "$out"
    host_env
    gpu_header | tee "$out/host.txt"
    if [ "${DRY_RUN:-0}" != 1 ]; then
      log_gpu_state "$out/gpu-state-$kind.csv"
      watch_host "$out/host-speed.csv"
    fi
    if [ $# -eq 0 ]; then
      if [ "$kind" = claims ]; then
        set -- prepare-7b n1-7b n3-7b prepare-13b n1-13b n3-13b sweep-7b capacity-7b variance-7b
      else
        set -- prepare batches-3b tinyllama qwen-24g
      fi
    fi
    for step in "$@"; do
      step_deadline=$((SECONDS + step_timeout))
      "${kind}_step" "$step"
    done
    x python3 -m benchmarks.claims render "$out/claims.json"
    pack_out ;;
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
  install-hf)
    # The HF side alone (hf-overhead, sdpa-probe need no vLLM): the .whl/ set that
    # `benchmarks/gpu_wheels.sh benchmarks/gpu-host-hf-wheels.txt` builds, in the call that measures.
    compgen -G ".whl/*.whl" >/dev/null || { echo "install-hf: no .whl/: run benchmarks/gpu_wheels.sh benchmarks/gpu-host-hf-wheels.txt and carry .whl" >&2; exit 3; }
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /root/site .whl/*.whl
    host_env
    python3 -c "import fastapi, uvicorn, pydantic, orjson, httptools, click, psutil, uvloop, tokenizers, prometheus_client; print('fastapi', fastapi.__version__)" ;;
  hf-overhead)
    host_env
    gpu_header
    log_gpu_state "$2/gpu-state-hf-overhead.csv"
    python3 -m benchmarks.hf_overhead --device cuda --dtype bfloat16 --random-weights \
      --model-dir "$model_dir" --batch-sizes ${HF_OVERHEAD_BATCHES:-1,4,16,32,64,256} --input-len 128 \
      --output-len 128 --rounds ${HF_OVERHEAD_ROUNDS:-2} --in-process ${HF_OVERHEAD_ARGS:-} 2>&1 | tee "$2/hf_overhead${HF_OVERHEAD_TAG:-}.txt"
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
    watch_host "$2/host-speed.csv"
    [ "${SERVEBENCH_GPU_DIAG:-0}" = 1 ] && sample_hf_server "$2"
    run_compare "$run" "$2/compare.txt"
    tar -czf "$2/gpu-compare.tar.gz" "$run" ;;
  stability)
    # stability OUT [RUN...]: the runs (default: a b) back to back; one run fits a device call, so two
    # calls on one warm machine (`stability OUT a`, then `stability OUT b`, ...) make the set. Its
    # stability.json covers every results/stability-* run on this host, once there are two.
    out=${2:?usage: $0 stability OUT [RUN...]}
    shift 2
    [ $# -eq 0 ] && set -- a b
    host_env
    gpu_header | tee "$out/host.txt"
    log_gpu_state "$out/gpu-state-stability.csv"
    watch_host "$out/host-speed.csv"
    for name in "$@"; do
      run_compare "results/stability-$name" "$out/compare-$name.txt"
      tar -czf "$out/stability-$name.tar.gz" "results/stability-$name"
    done
    runs=()
    for run in results/stability-*/; do [ -f "$run/run.json" ] && runs+=("${run%/}"); done
    if [ "${#runs[@]}" -ge 2 ]; then
      python3 -m benchmarks.stability "${runs[@]}" --out "$out/stability.json" 2>&1 | tee "$out/stability.txt"
    fi ;;
  hf-burst)
    # The HF server alone (`install-hf` is enough), closed loop at concurrency 64 and 256, 128 in / 128
    # out: a fixed 10 ms fill window (--burst-gap-ms 0) against the burst gap (the default 10 ms), back
    # to back. Each /batches record shows whether a wave of resent requests formed one batch.
    out=${2:?usage: $0 hf-burst OUT}
    host_env
    gpu_header | tee "$out/host.txt"
    for gap in ${BURST_GAPS:-0 10}; do
      start_server hf-burst 8011 "$out/hf-gap$gap.log" python3 -m servers.hf serve --model-dir "$model_dir" \
        --device cuda --dtype bfloat16 --random-weights --max-batch-size 256 --max-wait-ms 10 \
        --burst-gap-ms "$gap" --warmup 1,64,256 --port 8011
      set_aside "results/hf-burst-gap$gap"
      x python3 -m loadgen run --base-url http://127.0.0.1:8011 --tokenizer "$model_dir" --input-len 128 \
        --output-len 128 --ignore-eos --concurrency 64,256 --num-requests "${BURST_REQUESTS:-512}" \
        --warmup 16 --no-progress --output-dir "results/hf-burst-gap$gap" 2>&1 | tee "$out/run-gap$gap.txt" || true
      x curl -s http://127.0.0.1:8011/batches -o "$out/batches-gap$gap.json"
      stop_server hf-burst
    done ;;
  two-gpu)
    # Issue 15, in steps (no STEP: all, in order; each step fits one device call, docs/gpu-plan.md).
    out=${2:?usage: $0 two-gpu OUT [STEP...]}
    shift 2
    mkdir -p "$out"
    host_env
    gpu_header | tee "$out/host.txt"
    [ "${DRY_RUN:-0}" = 1 ] || watch_host "$out/host-speed.csv"
    gpus=$( (nvidia-smi -L 2>/dev/null || true) | wc -l)
    if [ "$gpus" -lt 2 ] && [ "${DRY_RUN:-0}" != 1 ]; then
      echo "two-gpu: this host has $gpus GPU(s); the run needs 2" >&2; exit 3
    fi
    [ $# -eq 0 ] && set -- side-by-side one-gpu 70b
    for step in "$@"; do
      step_deadline=$((SECONDS + step_timeout))
      two_gpu_step "$step"
    done ;;
  *)
    echo "usage: $0 stage PARTDIR... | install LASTPART | install-hf | hf-overhead OUT | sdpa-probe OUT | compare OUT | stability OUT [RUN...] | hf-burst OUT | two-gpu OUT | workstation | claims OUT [STEP...] | seeds OUT [STEP...]" >&2
    exit 2 ;;
esac
