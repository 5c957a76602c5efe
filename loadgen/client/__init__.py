"""The load generator's HTTP clients: send one request, fill its `RequestRecord`.

The runner uses `Client` and `make_client` (from `clients`); the other modules each do one job.
"""

from loadgen.client.clients import Client, make_client

__all__ = ["Client", "make_client"]
