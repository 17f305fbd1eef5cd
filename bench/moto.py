"""The moto server of the test suite, in a process of its own.

`python -m bench.moto` prints its URL as one JSON line and serves until its standard
input closes. In its own process, moto's work (it serialises every request, as S3 makes
conditional writes atomic) does not compete for the interpreter lock with the proxy or
the load generator.
"""

from __future__ import annotations

import json
import logging
import sys

from tests.support.moto_server import MotoServer


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = MotoServer().start()
    print(json.dumps({"url": server.url}), flush=True)
    try:
        sys.stdin.read()  # until the parent closes the pipe (or dies)
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group; the parent stops us anyway
    finally:
        server.stop()


if __name__ == "__main__":
    main()
