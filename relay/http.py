"""The HTTP sessions relay makes: keep-alive pools with the proxy look-up done once, and calls
with a deadline for the whole call (requests' own timeout is per read)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import urllib.request
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, poolmanager
from urllib3.connection import HTTPConnection, HTTPSConnection


def http_session() -> requests.Session:
    """A requests session. With `trust_env` requests looks up the proxy variables on every
    request (about 0.5 ms each, measured with bench/burst.py); with no proxy set there is nothing
    to find, so relay reads the CA bundle variables once and turns the lookups off."""
    session = requests.Session()
    if not urllib.request.getproxies():
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
    return session


class Deadline:
    """One call's whole-call deadline. requests' timeout is per read, so a peer sending a byte
    now and then holds a call for ever; at the deadline this shuts down the socket the call reads
    (urllib3's own way to stop a read from another thread), which ends the call with an error."""

    current = threading.local()  # .deadline: that of the call this thread is making

    def __init__(self, seconds: float) -> None:
        self.expired, self._sock, self._lock = False, None, threading.Lock()
        self._timer = threading.Timer(seconds, self.reading, kwargs={"expire": True})
        self._timer.daemon = True

    def __enter__(self) -> "Deadline":
        Deadline.current.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        Deadline.current.deadline = None

    def reading(self, sock: socket.socket | None = None, expire: bool = False) -> None:
        """The call reads from `sock` now, or (from the timer) its time is up."""
        with self._lock:
            self._sock, self.expired = sock or self._sock, self.expired or expire
            if self.expired and self._sock is not None:
                with contextlib.suppress(OSError):
                    self._sock.shutdown(socket.SHUT_RDWR)


class _Watched:
    """A urllib3 connection that hands its socket to the thread's Deadline before reading."""

    def getresponse(self):
        deadline = getattr(Deadline.current, "deadline", None)
        if deadline is not None and self.sock is not None:
            deadline.reading(self.sock)
        return super().getresponse()


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter, with connections a Deadline can stop (through an HTTP proxy too)."""

    pools = {"http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": type(
                 "Connection", (_Watched, HTTPConnection), {})}),
             "https": type("Pool", (HTTPSConnectionPool,), {"ConnectionCls": type(
                 "Connection", (_Watched, HTTPSConnection), {})})}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pools

    def proxy_manager_for(self, proxy: str, **kwargs: Any):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:  # not SOCKS
            manager.pool_classes_by_scheme = self.pools
        return manager
