# HF server alone, closed loop, fixed 10 ms window (burst gap 0) against the burst gap (5 ms).
export PYTHONPATH=/root/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
M=${M:-.cache/gpu/models/llama-3.2-1b-shape}
DEV=${DEV:-cuda}; LEVELS=${LEVELS:-64,256}; N=${N:-512}; WARM=${WARM:-1,64,256}; MB=${MB:-256}
for gap in ${GAPS:-0 5}; do
  setsid python3 -m servers.hf serve --model-dir $M --device $DEV --dtype bfloat16 --random-weights \
    --max-batch-size $MB --max-wait-ms 10 --burst-gap-ms $gap --warmup $WARM --port 8011 >$OUT/hf-gap$gap.log 2>&1 &
  pid=$!
  for i in $(seq 240); do curl -sf 127.0.0.1:8011/health >/dev/null && break; sleep 0.5; done
  echo "== gap $gap healthy after $i polls $(date +%T)"
  python3 -m loadgen run --base-url http://127.0.0.1:8011 --tokenizer $M --input-len 128 --output-len 128 \
    --ignore-eos --concurrency $LEVELS --num-requests $N --warmup 16 --no-progress \
    --output-dir results/burst-gap$gap 2>&1 | grep -iE "concurrency|tok/s|client" | head -20
  curl -s 127.0.0.1:8011/batches >$OUT/batches-gap$gap.json
  python3 -c "import json,sys; d=json.load(open('$OUT/batches-gap$gap.json')); print('rows', [b['rows'] for b in d['batches']])"
  kill -TERM -- -$pid; wait $pid
done
