"""locustfile: OpenAI-compatible streaming users, driven by hand (web UI) or headless.

    locust -f loadgen/locust/locustfile.py --host http://127.0.0.1:8000 --model SmolLM2-135M-Instruct

servebench's options (model, API, workload, results directory, ...) are listed in docs/locust.md
and are web UI fields (locust prints `--help` before it loads a locustfile, so they are not there).
TTFT, ITL and TPOT show as their own rows; the web UI port also serves `/metrics`.
"""

from loadgen.locust.plugin import install
from loadgen.locust.user import OpenAIStreamUser

install()

__all__ = ["OpenAIStreamUser"]
