"""relay's HTTP server: the Flask app under waitress (a production WSGI server).

Bodies over the app's limit are refused as soon as their size shows, before they are read, with
the same JSON answer as every other refusal.
"""

from __future__ import annotations

import json
import threading

from flask import Flask
from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from relay.web.app import MAX_BODY

THREADS = 8


class JsonErrorTask(ErrorTask):
    """waitress's own refusals (413 body too large, 431 headers too large, 400 unparsable) as
    relay's JSON {"error": …}, not waitress's plain text."""

    def execute(self):
        error = self.request.error
        message = (f"request body is larger than {MAX_BODY} bytes" if error.code == 413
                   else f"{error.reason}: {error.body}")
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class WebServer:
    """The app under waitress, in this thread (`run`) or in a background one (`start`); `stop`
    may be called from any other thread."""

    def __init__(self, app: Flask, host: str, port: int, threads: int = THREADS) -> None:
        self.server = create_server(
            app, host=host, port=port, threads=threads,
            # waitress refuses a body of max_request_body_size bytes or more; Flask one over
            # MAX_BODY: so both draw the line at the same byte
            max_request_body_size=MAX_BODY + 1)
        self.server.channel_class = JsonErrorChannel
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
