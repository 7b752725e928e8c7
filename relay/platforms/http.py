"""POST a JSON body on a requests Session's kept-alive connections, without requests' per-call work.

A card is one POST. requests spends about half a millisecond of CPU on each (merging the
session's settings, hooks, cookies, redirect handling) before urllib3 sends it: as much as the
rest of a card's handling (measured with bench/burst.py). The webhook sinks post through the
session's own connection pool and TLS settings instead. A session that reads the environment
(proxies, netrc: `requests.Session()` as is) or has proxies, auth or a client certificate goes
through requests as before.
"""

from __future__ import annotations

import json
import os
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import DEFAULT_CA_BUNDLE_PATH


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
            or type(adapter) is not HTTPAdapter):
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
