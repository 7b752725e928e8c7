"""relay's HTTP server: the Flask app under waitress (a production WSGI server).

waitress reads every request (headers and body) in its event loop and hands it to a worker
thread only when it is complete, so a slow client costs a socket, not a thread. Its defaults are
tuned here for hostile peers: many slow connections at once (`CONNECTION_LIMIT`, with poll()
instead of select(), which stops at file descriptor 1024), idle ones closed sooner, a request
that has not arrived whole `REQUEST_READ_SECONDS` after its first byte dropped, small header
blocks, and bodies over the app's limit refused as soon as their size shows, before they are
read, with the same JSON answer as every other refusal.
"""

from __future__ import annotations

import json
import resource
import threading
import time

from flask import Flask
from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

from relay.web.app import MAX_BODY

THREADS = 8  # for an app that does not say (create_app does)
CONNECTION_LIMIT = 1000  # open connections at once; more wait in the listen backlog
CHANNEL_TIMEOUT = 30  # seconds a connection may sit idle (each byte received renews it)
MAX_HEADER = 64 * 1024  # a request's header block, at most (waitress: 256 KB)
REQUEST_READ_SECONDS = 30.0  # from a request's first byte to its last, at most


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


class RelayChannel(HTTPChannel):
    """waitress's connection, with JSON refusals and a deadline for reading a request: each byte
    renews waitress's idle timeout, so a client sending a header line now and then would hold
    its connection for ever."""

    error_task_class = JsonErrorTask
    request_began = 0.0

    def received(self, data: bytes) -> bool:
        now = time.monotonic()
        if self.request is None:  # this data starts a request
            self.request_began = now
        elif now - self.request_began > REQUEST_READ_SECONDS:
            self.will_close = True  # the server's loop closes it next
            return False
        return super().received(data)


def _allow_open_files(needed: int) -> None:
    """Raise this process's soft limit on open files to fit `needed` (up to the hard limit):
    at 1,024, common on Linux, CONNECTION_LIMIT sockets would not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        wanted = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class WebServer:
    """The app under waitress, in this thread (`run`) or in a background one (`start`); `stop`
    may be called from any other thread."""

    def __init__(self, app: Flask, host: str, port: int, threads: int | None = None) -> None:
        threads = threads or app.config.get("RELAY_WEB_THREADS", THREADS)
        _allow_open_files(CONNECTION_LIMIT + 256)
        self.server = create_server(
            app, host=host, port=port, threads=threads, connection_limit=CONNECTION_LIMIT,
            asyncore_use_poll=True, channel_timeout=CHANNEL_TIMEOUT,
            max_request_header_size=MAX_HEADER,
            # waitress refuses a body of max_request_body_size bytes or more; Flask one over
            # MAX_BODY: so both draw the line at the same byte
            max_request_body_size=MAX_BODY + 1)
        self.server.channel_class = RelayChannel
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
        try:
            self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        except OSError:  # its trigger is closed already: the loop is ending; close what is left
            wasyncore.close_all(self.server._map, ignore_all=True)
        if self.thread.is_alive():
            self.thread.join(timeout=5)
