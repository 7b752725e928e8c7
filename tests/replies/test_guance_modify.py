"""What an action sends to Guance's modify, and how its failures are told: the issue keeps its
channels (issue 22.18: an older modify page says a modify without `channels` leaves the issue in
the default channel only, and the fake Guance does so), and a 5xx after the modify went out "may
have landed" (issue 22.8): the signed link stays used and the answer says so."""

from __future__ import annotations

import pytest

from relay.web.app import create_app
from tests.helpers import REPLY_TOKEN
from tests.robots import DING_TOKEN, ding_url, new_issues
from tests.web.test_action_links import LINK, PUBLIC, SECRET


def flow(rt, text: str):
    return create_app(rt).test_client().post(
        "/feishu/reply", json={"content": text}, headers={"Authorization": f"Bearer {REPLY_TOKEN}"})


@pytest.mark.parametrize("command, takes", [("/resolve", (10, 20, 30)),
                                            ("/claim", (10, 15, 20, 30)),
                                            ("/close", (10, 20, 30))])  # Closed falls back
def test_every_modify_carries_the_issues_channels(make_runtime, guance, clock, command, takes):
    guance.status_types = takes
    chan = guance.add_channel("payments")
    rt = make_runtime(channels="payments", routes={"payments": ["default"]})
    [issue] = new_issues(rt, guance, clock, "Payments 5xx", channels=["payments"])
    assert flow(rt, f"#{issue}#{command}").status_code == 200
    sent = [body["extend"].get("channels") for uuid, body in guance.modifications]
    assert sent and all(c == [{"type": "#", "uuid": chan, "exists": True}] for c in sent)
    assert chan in guance.issue(issue)["_channels"]  # still listed in its channel


def test_a_5xx_from_modify_may_have_landed_and_the_link_stays_used(make_runtime, guance, clock,
                                                                   dingtalk):
    rt = make_runtime(public_url=PUBLIC, action_link_secret=SECRET,
                      destinations={"ding": ding_url(dingtalk)}, routes={"default": "ding"})
    [issue] = new_issues(rt, guance, clock)
    [body] = dingtalk.for_robot(DING_TOKEN)
    links = {label: url.removeprefix(PUBLIC) for label, url in LINK.findall(
        body["markdown"]["text"])}
    client = create_app(rt).test_client()
    guance.faults.extend(["no fault", "500"])  # the issue is read, then modify answers 500
    resp = client.post(links["Resolve"])
    page = resp.get_data(as_text=True)
    assert resp.status_code == 502 and "may have been made" in page
    assert client.post(links["Resolve"]).status_code == 409  # not freed: no second change


def test_a_5xx_from_modify_is_not_reported_as_not_taken(make_runtime, guance, clock):
    rt = make_runtime()
    [issue] = new_issues(rt, guance, clock)
    guance.faults.extend(["no fault", "500"])
    body = flow(rt, f"#{issue}#/resolve").get_json()
    assert body["said"].startswith("Not sure") and "may have been made" in body["said"]
    assert "may have been made" in body["error"]
