"""How relay reads Feishu's answers: what counts as sent, and how long Feishu asked us to wait."""

import json

import pytest
import responses

from relay.config import Settings
from relay.payloads import IssueCard
from relay.platforms.feishu.webhook import FlowWebhookSink, parse_retry_after
from tests.helpers import EN

URL = "https://www.feishu.cn/flow/api/trigger-webhook/0123456789abcdef"
PAYLOAD = IssueCard(uuid="issue_0123456789", title="t", level="P1", source="s", message="m",
                    create_at=1_767_225_600)
NOW = 1_767_225_600.0  # Thu, 01 Jan 2026 00:00:00 GMT


@pytest.mark.parametrize("header, expected", [
    ("30", 30.0),
    ("Thu, 01 Jan 2026 00:02:00 GMT", 120.0),
    ("Wed, 31 Dec 2025 23:00:00 GMT", 0.0),  # a date already past: no wait
    ("soon", None),
    (None, None),
])
def test_retry_after_in_seconds_or_http_date(header, expected):
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize("status, body, headers, ok, wait", [
    (200, {"code": 0, "msg": "success", "data": {}}, {}, True, None),
    (200, {"StatusCode": 0, "StatusMessage": "success"}, {}, True, None),
    (200, {"code": 11232, "msg": "frequency limited"}, {}, False, 10.0),
    (200, {"code": 19021, "msg": "sign match fail"}, {}, False, None),
    (429, {"code": 99991400}, {"Retry-After": "Thu, 01 Jan 2026 00:00:45 GMT"}, False, 45.0),
    (503, {"msg": "busy"}, {}, False, None),
])
@responses.activate
def test_sent_only_when_feishu_says_yes(status, body, headers, ok, wait):
    responses.post(URL, json=body, status=status, headers=headers)
    sink = FlowWebhookSink(URL, Settings(_env_file=None).tz, EN)
    result = sink.send(PAYLOAD, NOW)
    assert (result.ok, result.retry_after) == (ok, wait)
    if not ok:
        assert result.error and "0123456789abcdef" not in result.error


@responses.activate
def test_flow_gets_the_params_flows_already_use():
    responses.post(URL, json={"code": 0})
    FlowWebhookSink(URL, Settings(_env_file=None).tz, EN).send(PAYLOAD, NOW)
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {"issue_uuid": "issue_0123456789", "title": "t", "level": "P1", "source": "s",
                    "message": "m", "createAt": "2026-01-01 08:00:00", "event": "new",
                    "status": "Open"}
