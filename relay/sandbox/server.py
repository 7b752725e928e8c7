"""Serving a fake on 127.0.0.1 for the sandbox, the tests and the benchmarks."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask
from werkzeug.serving import make_server


def wait_until(predicate, timeout: float = 30.0) -> bool:
    """Until `predicate()` is true or `timeout` seconds passed; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


class ServerThread:
    """A WSGI app served on 127.0.0.1 (an ephemeral port) by a daemon thread."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
