"""The moto server of the test suite, in a process of its own.

`python -m bench.moto` prints its URL as one JSON line and serves until its standard
input closes. In its own process, moto's work (it serialises every request, as S3 makes
conditional writes atomic) does not compete for the interpreter lock with the proxy or
the load generator.
"""

from __future__ import annotations

import logging

from bench.child import serve_until_parent_exits
from tests.support.moto_server import MotoServer


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = MotoServer().start()
    serve_until_parent_exits(server)


if __name__ == "__main__":
    main()
