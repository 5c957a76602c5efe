"""Locust integration: streaming OpenAI users, a stepped sweep shape, and the master's `/metrics`.

Run it with `locust -f loadgen/locust/locustfile.py` (hand-driven, web UI or headless) or
`locust -f loadgen/locust/sweep.py` (an unattended concurrency sweep); see docs/locust.md.

Importing this package does not import locust (which monkey-patches the standard library through
gevent): only the modules that need it do, and the locustfiles load them.
"""
