"""The HTTP sessions relay makes: keep-alive pools with the proxy look-up done once, calls with a
deadline for the whole call (requests' own timeout is per read), and the webhook sinks' POST.

`post` sends a card on a requests Session's kept-alive connections without requests' per-call
work: requests spends about half a millisecond of CPU on each call (merging the session's
settings, hooks, cookies, redirect handling) before urllib3 sends it, as much as the rest of a
card's handling (measured with bench/burst.py). A session that reads the environment (proxies,
netrc: `requests.Session()` as is), has proxies, auth, a client certificate or response hooks
goes through requests as before.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import urllib.request
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH
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


class Answer:
    """The parts of a response the sinks read, named as requests names them."""

    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: Any, content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def post(session: requests.Session, url: str, body: bytes, headers: dict[str, str],
         timeout: float) -> Answer | requests.Response:
    """POST `body`; raises requests.RequestException subclasses, as requests would."""
    adapter = session.get_adapter(url)
    if (session.trust_env or session.proxies or session.auth or session.cert
            or session.hooks.get("response") or type(adapter) is not HTTPAdapter):
        return session.post(url, data=body, headers=headers, timeout=timeout)
    verify = session.verify
    pool_kwargs: dict[str, Any] = {"cert_reqs": "CERT_NONE" if verify is False else
                                   "CERT_REQUIRED"}
    if isinstance(verify, str):
        pool_kwargs["ca_cert_dir" if os.path.isdir(verify) else "ca_certs"] = verify
    elif verify is not False:  # requests' CA bundle (certifi), as requests would use
        pool_kwargs["ca_certs"] = DEFAULT_CA_BUNDLE_PATH
    parts = urllib3.util.parse_url(url)
    try:
        pool = adapter.poolmanager.connection_from_host(
            parts.host, parts.port, (parts.scheme or "http").lower(), pool_kwargs=pool_kwargs)
        resp = pool.urlopen("POST", parts.request_uri, body=body,
                            headers=dict(session.headers, **headers), redirect=False,
                            assert_same_host=False, retries=adapter.max_retries,
                            timeout=urllib3.Timeout(connect=timeout, read=timeout))
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the cause
        if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
            raise requests.ConnectTimeout("no connection in time") from None
        if isinstance(reason, urllib3.exceptions.TimeoutError):
            raise requests.ReadTimeout("no answer in time") from None
        raise requests.ConnectionError(type(reason).__name__) from None
    return Answer(resp.status, resp.headers, resp.data)
