"""The HTTP sessions relay makes: keep-alive pools with the proxy look-up done once, calls with a
deadline for the whole call (requests' own timeout is per read), and the webhook sinks' POST.

`post` sends a card with libcurl (pycurl), one handle a thread, so its connections stay alive
between cards. requests spends about half a millisecond of CPU on each call (merging the
session's settings, hooks, cookies, redirects, then urllib3 and http.client parsing the answer),
as much as the rest of a card's handling; libcurl does the same POST in about a quarter of that
(measured on loopback; bench/burst.py shows a whole card's cost). A session that reads the
environment (proxies, netrc: `requests.Session()` as is), has proxies, auth, a client
certificate, response hooks or an adapter of its own goes through requests as before.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import threading
import urllib.request
from typing import Any

import pycurl
import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
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
    """The parts of a response the sinks read, named as requests names them. The headers are
    parsed only when read (a refusal's Retry-After): a card's answer rarely needs them."""

    __slots__ = ("status_code", "_header_lines", "content")

    def __init__(self, status_code: int, header_lines: list[bytes], content: bytes) -> None:
        self.status_code, self._header_lines, self.content = status_code, header_lines, content

    @property
    def headers(self) -> CaseInsensitiveDict:
        """The last answer's headers (a 100 Continue comes with a block of its own); of a
        header sent twice the last one counts (requests would join them with ", ")."""
        found: CaseInsensitiveDict = CaseInsensitiveDict()
        for raw in self._header_lines:
            line = raw.decode("latin-1")
            if line.startswith("HTTP/"):
                found.clear()
            elif ":" in line:
                name, _, value = line.partition(":")
                found[name.strip()] = value.strip()
        return found

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


MAX_ANSWER_BYTES = 1 << 20  # a webhook's answer is a few hundred bytes; more is not read
_handles = threading.local()  # .curl: this thread's libcurl handle (its kept-alive connections)


def post(session: requests.Session, url: str, body: bytes, headers: dict[str, str],
         timeout: float) -> Answer | requests.Response:
    """POST `body` within `timeout` seconds for the whole call; raises requests'
    RequestException subclasses, as requests would."""
    if (session.trust_env or session.proxies or session.auth or session.cert
            or session.hooks.get("response") or type(session.get_adapter(url)) is not HTTPAdapter):
        return session.post(url, data=body, headers=headers, timeout=timeout)
    curl = getattr(_handles, "curl", None)
    if curl is None:
        curl = _handles.curl = pycurl.Curl()
        curl.setopt(pycurl.NOSIGNAL, 1)  # timeouts without signals: deliver runs in threads
        curl.setopt(pycurl.MAXFILESIZE, MAX_ANSWER_BYTES)
        curl.setopt(pycurl.PROXY, "")  # libcurl would read the proxy variables itself
    milliseconds = max(1, round(timeout * 1000))  # 0 would mean no timeout at all
    answer, lines = io.BytesIO(), []
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.POSTFIELDS, body)
    curl.setopt(pycurl.HTTPHEADER, _header_lines(session.headers, headers))
    curl.setopt(pycurl.WRITEDATA, answer)
    curl.setopt(pycurl.HEADERFUNCTION, lines.append)
    curl.setopt(pycurl.CONNECTTIMEOUT_MS, milliseconds)
    curl.setopt(pycurl.TIMEOUT_MS, milliseconds)
    _verify(curl, session.verify)
    try:
        curl.perform()
    except pycurl.error as exc:
        code = exc.args[0]
        if code == pycurl.E_OPERATION_TIMEDOUT:
            if curl.getinfo(pycurl.CONNECT_TIME) == 0:
                raise requests.ConnectTimeout("no connection in time") from None
            raise requests.ReadTimeout("no answer in time") from None
        raise requests.ConnectionError(f"curl error {code}") from None
    return Answer(curl.getinfo(pycurl.RESPONSE_CODE), lines, answer.getvalue())


def _header_lines(session_headers: Any, headers: dict[str, str]) -> list[str]:
    """The request's header lines: the session's, then the call's over them, as requests merges
    them (names compared without case). Compression is not asked for (answers are tiny); curl
    keeps the connection alive by itself."""
    merged = {name.lower(): f"{name}: {value}" for name, value in session_headers.items()}
    merged.update((name.lower(), f"{name}: {value}") for name, value in headers.items())
    for name in ("accept-encoding", "connection"):
        merged.pop(name, None)
    return list(merged.values())


def _verify(curl: pycurl.Curl, verify: bool | str) -> None:
    """TLS as requests would check it: against its CA bundle (certifi) or the session's file or
    folder of CAs, or not at all. The handle serves every session of its thread, so the one CA
    option in use is set and the other cleared."""
    curl.setopt(pycurl.SSL_VERIFYPEER, verify is not False)
    curl.setopt(pycurl.SSL_VERIFYHOST, 0 if verify is False else 2)
    bundle = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
    used, cleared = ((pycurl.CAPATH, pycurl.CAINFO) if os.path.isdir(bundle)
                     else (pycurl.CAINFO, pycurl.CAPATH))
    curl.setopt(used, bundle)
    curl.unsetopt(cleared)
