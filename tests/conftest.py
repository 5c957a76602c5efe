"""Shared fixtures. Each area keeps its fixtures in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.procs",
    "tests.fixtures.sim",
    "tests.fixtures.model",
    "tests.fixtures.hf",
    "tests.fixtures.vllm",
    "tests.fixtures.prometheus",
    "tests.fixtures.locust",
    "tests.fixtures.docker",
    "tests.fixtures.nvidia_smi",
]
