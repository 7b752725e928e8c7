"""relay's HTTP server: the Flask app under waitress (a production WSGI server)."""

from __future__ import annotations

import threading

from flask import Flask
from waitress import create_server, wasyncore


class WebServer:
    """The app under waitress, in this thread (`run`) or in a background one (`start`); `stop`
    may be called from any other thread."""

    def __init__(self, app: Flask, host: str, port: int, threads: int = 8) -> None:
        self.server = create_server(app, host=host, port=port, threads=threads)
        self.thread = threading.Thread(target=self.server.run, name="relay-web", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.server.effective_host}:{self.server.effective_port}"

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def run(self) -> None:
        """Serve in this thread until `stop` is called from another."""
        self.server.run()

    def stop(self) -> None:
        # Let the worker threads finish first (they wake the loop when done), then close the
        # listener and kept-alive connections from inside the server's own loop: closed under a
        # running select() they would fail it with EBADF.
        self.server.task_dispatcher.shutdown()
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        if self.thread.is_alive():
            self.thread.join(timeout=5)
