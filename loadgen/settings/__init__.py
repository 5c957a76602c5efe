"""Typed settings of `loadgen run`, `loadgen compare`/`demo` and the locust integration.

- `option`: `OptionSpec` (one option's flag, default, help and check) and what is built from it;
- `table`: every option, defined once, with the deliberate per-command variants and their reasons;
- `workload`, `run`, `compare`: the frozen settings objects the commands build once from click's
  values and pass down.
"""
