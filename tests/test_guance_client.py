"""GuanceClient against HTTP answers shaped like Guance's (via `responses`), plus two real-socket
failures (connection refused, read timeout)."""

from __future__ import annotations

import json
import time

import pytest
import responses

from relay.clock import FakeClock
from relay.guance import (GuanceAuthError, GuanceBudgetExhausted, GuanceClient, GuanceError,
                          GuanceHTTPError, GuanceNotFound, GuanceRateLimited, GuanceTransportError)
from relay.ratelimit import RateLimiter
from relay.sandbox.guance import FakeGuance
from relay.sandbox.server import ServerThread
from tests.helpers import SlowPeer, free_port

BASE = "https://openapi.example-guance.test"
KEY = "key-0123456789abcdef"
LIST_URL = f"{BASE}/api/v1/issue/list"
CHANNELS_URL = f"{BASE}/api/v1/channel/quick_list"
REPLY_URL = f"{BASE}/api/v1/issue/reply/create"
T0 = 1_767_225_600


def envelope(content=None, status=200, error_code="", message="", **extra):
    return {"code": status, "content": content, "errorCode": error_code, "message": message,
            "success": status == 200, "traceId": "TRACE-1", **extra}


def issue(n: int, **fields) -> dict:
    obj = {"uuid": f"issue_{n:08d}", "id": n, "name": f"issue {n}", "level": "system_level_2",
           "description": f"<p>body {n}</p>", "extend": {"text": f"body {n}"},
           "resource": "monitor", "resourceType": "event", "createAt": T0 + n, "updateAt": T0 + n,
           "deleteAt": -1}
    obj.update(fields)
    return obj


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0 + 10_000)


@pytest.fixture
def client(clock) -> GuanceClient:
    return GuanceClient(BASE, KEY, RateLimiter([(20, 61.0)], clock), clock=clock, timeout=2.0)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def paged(all_items: list[dict], shape: str, cap: int | None = None):
    """A /issue/list callback paging `all_items` by the request's pageIndex/pageSize (the server
    may cap the page size at `cap`), answering in `shape` "object" or "list"."""
    seen_pages: list[int] = []

    def callback(request):
        body = json.loads(request.body)
        page, size = body["pageIndex"], body["pageSize"]
        if cap:
            size = min(size, cap)
        seen_pages.append(page)
        items = all_items[(page - 1) * size: page * size]
        info = {"count": len(items), "pageIndex": page, "pageSize": size,
                "totalCount": len(all_items)}
        if shape == "object":
            payload = envelope({"data": items, "pageInfo": info})
        else:
            payload = envelope(items, pageInfo=info)
        return 200, {"Content-Type": "application/json"}, json.dumps(payload)

    return callback, seen_pages


# -- issue list: shapes, pages, fields ------------------------------------------------------------

@pytest.mark.parametrize("shape", ["object", "list"])
def test_issue_list_single_page_both_shapes(client, rsps, shape):
    items = [issue(1), issue(2, level=0), issue(3, level="system_level_1")]
    callback, pages = paged(items, shape)
    rsps.add_callback(responses.POST, LIST_URL, callback=callback)

    got = client.issues("chan_x", T0, T0 + 100)

    assert [i.uuid for i in got] == ["issue_00000001", "issue_00000002", "issue_00000003"]
    assert [i.level for i in got] == ["P2", "P0", "P1"]
    assert pages == [1]
    sent = json.loads(rsps.calls[0].request.body)
    assert sent["channelUUID"] == "chan_x"
    assert (sent["startTime"], sent["endTime"]) == (T0, T0 + 100)
    assert rsps.calls[0].request.headers["DF-API-KEY"] == KEY


@pytest.mark.parametrize("shape", ["object", "list"])
def test_issue_list_pages_until_exhausted(client, rsps, shape):
    items = [issue(n) for n in range(1, 251)]  # 3 pages of 100
    callback, pages = paged(items, shape)
    rsps.add_callback(responses.POST, LIST_URL, callback=callback)

    got = client.issues("chan_x", T0, T0 + 1000)

    assert len(got) == 250 and len({i.uuid for i in got}) == 250
    assert pages == [1, 2, 3]


@pytest.mark.parametrize("shape", ["object", "list"])
def test_issue_list_pages_when_server_caps_page_size(client, rsps, shape):
    """Guance's maximum pageSize is undocumented: if it answers 20 a page, relay must not take the
    short page for the last one (it would lose every later issue of the window)."""
    items = [issue(n) for n in range(1, 46)]
    callback, pages = paged(items, shape, cap=20)
    rsps.add_callback(responses.POST, LIST_URL, callback=callback)

    got = client.issues("chan_x", T0, T0 + 1000)

    assert sorted(i.uuid for i in got) == sorted(i["uuid"] for i in items)
    assert pages == [1, 2, 3]


@pytest.mark.parametrize("shape", ["object", "list"])
def test_a_read_resumed_after_its_first_page_counts_what_that_page_held(client, rsps, shape):
    """poll's read_window reads page 1 itself and may go on from page 2: with a capped page size
    the count so far is page 1's items, not a full page (or the last page would be skipped)."""
    items = [issue(n) for n in range(1, 46)]
    callback, pages = paged(items, shape, cap=20)
    rsps.add_callback(responses.POST, LIST_URL, callback=callback)

    page = next(client.issue_pages("chan_x", T0, T0 + 1000))
    first, count, total = page.issues, page.received, page.total
    got = first + [i for rest in client.issue_pages("chan_x", T0, T0 + 1000, first_page=2,
                                                    received=count) for i in rest.issues]

    assert (count, total) == (20, 45)
    assert sorted(i.uuid for i in got) == sorted(i["uuid"] for i in items)
    assert pages == [1, 2, 3]


def test_issue_list_exact_multiple_of_page_size_stops(client, rsps):
    items = [issue(n) for n in range(1, 201)]
    callback, pages = paged(items, "object")
    rsps.add_callback(responses.POST, LIST_URL, callback=callback)
    assert len(client.issues("chan_x", T0, T0 + 1000)) == 200
    assert pages == [1, 2]  # totalCount says there is no third page: no wasted call


def test_issue_list_bare_list_without_page_info(client, rsps):
    """No pageInfo anywhere: a short page is the last; a full one asks for the next page."""
    pages: list[int] = []

    def callback(request):
        page = json.loads(request.body)["pageIndex"]
        pages.append(page)
        items = [issue(n) for n in range(1, 101)] if page == 1 else [issue(101), issue(102)]
        return 200, {}, json.dumps(envelope(items))

    rsps.add_callback(responses.POST, LIST_URL, callback=callback)
    assert len(client.issues("chan_x", T0, T0 + 1000)) == 102
    assert pages == [1, 2]


@pytest.mark.parametrize("raw, expected", [
    (0, "P0"), (1, "P1"), (2, "P2"), ("2", "P2"),
    ("system_level_0", "P0"), ("system_level_1", "P1"), ("system_level_2", "P2"),
])
def test_level_int_or_string(client, rsps, raw, expected):
    rsps.add(responses.POST, LIST_URL,
             json=envelope({"data": [issue(1, level=raw)], "pageInfo": {"totalCount": 1}}))
    assert client.issues("chan_x", T0, T0 + 10)[0].level == expected


def test_message_prefers_extend_text_and_strips_html_otherwise(client, rsps):
    rsps.add(responses.POST, LIST_URL, json=envelope({"data": [
        issue(1, description='<p>disk <span class="at">@ops</span> full</p>',
              extend={"text": "disk @ops full (plain)"}),
        issue(2, description="<p>CPU <b>98%</b> &amp; rising</p><p>on web-1</p>", extend={}),
        {k: v for k, v in issue(3, description="<div>mem&lt;5%<br/>swap on</div>").items()
         if k != "extend"},  # no extend at all
    ], "pageInfo": {"totalCount": 3}}))
    got = {i.uuid: i for i in client.issues("chan_x", T0, T0 + 10)}
    assert got["issue_00000001"].message == "disk @ops full (plain)"
    msg2 = got["issue_00000002"].message
    assert "<" not in msg2 and "&amp;" not in msg2
    assert msg2.split() == ["CPU", "98%", "&", "rising", "on", "web-1"]
    assert got["issue_00000003"].message.split("\n") == ["mem<5%", "swap on"]


def test_deleted_issue_is_flagged(client, rsps):
    rsps.add(responses.POST, LIST_URL, json=envelope({"data": [
        issue(1), issue(2, deleteAt=T0 + 50)], "pageInfo": {"totalCount": 2}}))
    got = {i.uuid: i.deleted for i in client.issues("chan_x", T0, T0 + 100)}
    assert got == {"issue_00000001": False, "issue_00000002": True}


# -- typed errors ----------------------------------------------------------------------------------

def test_connection_refused_is_transport_error(clock):
    client = GuanceClient(f"http://127.0.0.1:{free_port()}", KEY,
                          RateLimiter([(20, 61.0)], clock), clock=clock, timeout=2.0)
    with pytest.raises(GuanceTransportError) as err:
        client.issues("chan_x", T0, T0 + 10)
    assert err.value.retryable
    assert KEY not in str(err.value)


def test_read_timeout_is_transport_error(clock):
    fake = FakeGuance(api_key=KEY, clock=clock)
    fake.timeout_seconds = 1.0
    fake.faults.append("timeout")
    server = ServerThread(fake.app)
    try:
        client = GuanceClient(server.url, KEY, RateLimiter([(20, 61.0)], clock), clock=clock,
                              timeout=0.3)
        with pytest.raises(GuanceTransportError):
            client.channels()
        assert [c.name for c in client.channels()] == ["default"]  # the next call works
    finally:
        server.stop()


def test_transport_error_from_requests(client, rsps):
    import requests
    rsps.add(responses.POST, LIST_URL, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(GuanceTransportError):
        client.issues("chan_x", T0, T0 + 10)


@pytest.mark.parametrize("status, body", [
    (500, envelope(None, 500, "ft.InternalError", "internal error")),
    (502, "<html>bad gateway</html>"),
    (503, ""),
])
def test_5xx_is_http_error(client, rsps, status, body):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    rsps.add(responses.POST, LIST_URL, status=status, **kwargs)
    with pytest.raises(GuanceHTTPError) as err:
        client.issues("chan_x", T0, T0 + 10)
    assert not isinstance(err.value, (GuanceAuthError, GuanceRateLimited, GuanceNotFound))
    assert err.value.status == status and err.value.retryable


def test_success_false_is_http_error(client, rsps):
    rsps.add(responses.POST, LIST_URL, json={"code": 200, "content": None, "success": False,
                                             "errorCode": "ft.Unknown", "message": "went wrong"})
    with pytest.raises(GuanceHTTPError) as err:
        client.issues("chan_x", T0, T0 + 10)
    assert not isinstance(err.value, (GuanceAuthError, GuanceRateLimited, GuanceNotFound))
    assert err.value.error_code == "ft.Unknown"


def test_body_not_json_envelope_is_transport_error(client, rsps):
    rsps.add(responses.POST, LIST_URL, body="<html>proxy page</html>", status=200,
             content_type="application/json")
    with pytest.raises(GuanceTransportError):
        client.issues("chan_x", T0, T0 + 10)


@pytest.mark.parametrize("code", ["ft.TriggerApiAkCurrentLimiting",
                                  "ft.TriggerApiWorkspaceCurrentLimiting"])
def test_401_rate_limit_is_rate_limited_not_auth(client, rsps, clock, code):
    rsps.add(responses.POST, LIST_URL, status=401,
             json=envelope(None, 401, code, "API key rate limit exceeded"))
    with pytest.raises(GuanceRateLimited) as err:
        client.issues("chan_x", T0, T0 + 10)
    assert not isinstance(err.value, GuanceAuthError)
    assert err.value.retryable and err.value.status == 401
    # relay then holds back for a minute instead of hammering Guance: no HTTP call is made
    with pytest.raises(GuanceBudgetExhausted):
        client.issues("chan_x", T0, T0 + 10)
    assert len(rsps.calls) == 1
    clock.advance(61)
    rsps.replace(responses.POST, LIST_URL, json=envelope({"data": [issue(1)],
                                                          "pageInfo": {"totalCount": 1}}))
    assert len(client.issues("chan_x", T0, T0 + 10)) == 1


def test_403_invalid_key_is_auth_error(client, rsps):
    rsps.add(responses.GET, CHANNELS_URL, status=403,
             json=envelope(None, 403, "ft.InvalidAPIKey", "invalid API key"))
    with pytest.raises(GuanceAuthError) as err:
        client.channels()
    assert not err.value.retryable
    assert not isinstance(err.value, GuanceRateLimited)


@pytest.mark.parametrize("status, code", [(404, "ft.IssueNotFound"), (200, "ft.IssueNotExist")])
def test_reply_to_unknown_issue_is_not_found(client, rsps, status, code):
    body = envelope(None, status, code, "issue does not exist")
    body["success"] = False
    rsps.add(responses.POST, REPLY_URL, status=status, json=body)
    with pytest.raises(GuanceNotFound):
        client.reply("issue_deadbeef00", "hello")


def test_reply_sends_body_and_returns_reply(client, rsps):
    rsps.add(responses.POST, REPLY_URL, json=envelope(
        {"uuid": "repim_1", "issueUUID": "issue_abcdef12", "content": "restarted #2",
         "type": "reply", "createAt": T0, "updateAt": T0 + 1}))
    got = client.reply("issue_abcdef12", "restarted #2")
    assert got["uuid"] == "repim_1" and got["updateAt"] == T0 + 1
    sent = json.loads(rsps.calls[0].request.body)
    assert sent == {"issueUUID": "issue_abcdef12", "content": "restarted #2", "extend": {}}
    assert rsps.calls[0].request.headers["DF-API-KEY"] == KEY


def test_all_errors_are_guance_errors():
    for cls in (GuanceTransportError, GuanceHTTPError, GuanceRateLimited, GuanceAuthError,
                GuanceNotFound, GuanceBudgetExhausted):
        assert issubclass(cls, GuanceError)


# -- channel list -----------------------------------------------------------------------------------

def test_channel_list_cached_for_ten_minutes(client, rsps, clock):
    rsps.add(responses.GET, CHANNELS_URL, json=envelope([
        {"uuid": "chan_default", "name": "default", "deleteAt": -1},
        {"uuid": "chan_ops", "name": "ops", "deleteAt": -1},
        {"uuid": "chan_old", "name": "old", "deleteAt": T0},
    ]))
    first = client.channels()
    assert [(c.uuid, c.name) for c in first] == [("chan_default", "default"), ("chan_ops", "ops")]
    clock.advance(300)
    assert client.channels() == first
    clock.advance(299)
    client.channels()
    assert len(rsps.calls) == 1  # no HTTP call within ten minutes
    clock.advance(10)
    client.channels()
    assert len(rsps.calls) == 2  # refreshed after ten minutes
    assert all(c.request.headers["DF-API-KEY"] == KEY for c in rsps.calls)


def test_failed_channel_list_is_not_cached(client, rsps):
    rsps.add(responses.GET, CHANNELS_URL, status=500, json=envelope(None, 500, "ft.X", "x"))
    rsps.add(responses.GET, CHANNELS_URL, json=envelope([{"uuid": "chan_a", "name": "a"}]))
    with pytest.raises(GuanceHTTPError):
        client.channels()
    assert [c.name for c in client.channels()] == ["a"]


# -- a peer that trickles or hangs: the whole call has a deadline --------------------------------

def guance_answer(content) -> bytes:
    body = json.dumps(envelope(content)).encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)) + body


@pytest.mark.parametrize("at_once", [0, "headers"], ids=["status-line", "body"])
@pytest.mark.parametrize("reply", [False, True], ids=["poll", "reply"])
def test_a_guance_trickling_bytes_fails_the_call_at_its_deadline(clock, at_once, reply):
    from relay.guance import GuanceNoAnswer
    answer = guance_answer([{"uuid": "chan_1", "name": "ops"}] * 20)
    at_once = answer.index(b"\r\n\r\n") + 4 if at_once == "headers" else 0
    # a byte every 0.2 s: each read is well within the 1 s timeout, the whole answer takes
    # minutes (the peer gives up after 8 s)
    peer = SlowPeer(answer, at_once=at_once, every=0.2, lasts=8.0)
    client = GuanceClient(peer.url, KEY, RateLimiter([(20, 61.0)], clock), clock=clock,
                          timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(GuanceNoAnswer if reply else GuanceTransportError) as err:
            client.reply("issue_1", "hi") if reply else client.channels()
        took = time.monotonic() - started
    finally:
        peer.close()
    assert "no whole answer within 1 s" in str(err.value)
    assert err.value.retryable is not reply  # a comment that may have landed is not resent
    assert peer.finished == 0 and took < 5  # about the deadline, long before the answer ended


def test_a_guance_that_never_answers_fails_the_call_at_its_deadline(clock):
    peer = SlowPeer(every=None, lasts=8.0)
    client = GuanceClient(peer.url, KEY, RateLimiter([(20, 61.0)], clock), clock=clock,
                          timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(GuanceTransportError, match="no whole answer within 1 s"):
            client.channels()
        assert time.monotonic() - started < 5
    finally:
        peer.close()
