"""`relay sandbox`, last step: reminders when nobody claims. Three P2 issues of a channel stay
unclaimed past RELAY_REMINDERS' minutes; their group gets one reminder digest listing them, the
issues checked against one list call to Guance, not one call each."""

from __future__ import annotations

from pathlib import Path

from relay.config import Settings
from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll
from relay.pipeline.remind import remind
from relay.runtime import Runtime
from relay.sandbox.guance import FakeGuance
from relay.sandbox.robots import FakeDingTalk, robot_url
from relay.sandbox.server import ServerThread


def run_remind_step(guance: FakeGuance, guance_url: str, workdir: Path) -> bool:
    dingtalk = FakeDingTalk()
    server = ServerThread(dingtalk.app)
    guance.add_channel("batch")
    settings = Settings(
        _env_file=None, guance_base_url=guance_url, guance_api_key=guance.api_key,
        channels="batch", destinations={"batch-ding": robot_url(server.url, "dingtalk",
                                                                "batch0009")},
        routes={"batch": ["batch-ding"]}, reminders={"P2": 10},
        database_url=f"sqlite:///{workdir}/relay-remind.db")
    rt = Runtime(settings)
    try:
        now = int(rt.clock.now())
        for n in range(3):
            guance.add_issue(f"nightly batch {n + 1} late", ["batch"], created_at=now - 11 * 60)
        poll(rt, since=now - 3600)
        deliver(rt)
        cards = len(dingtalk.received)
        calls = len(guance.calls)
        report = remind(rt)
        deliver(rt)
        digests = [body["markdown"]["text"] for _, body in dingtalk.received[cards:]]
        print(f"   {cards} cards sent 11 min ago, nobody claimed them; remind: "
              f"{report.queued} reminders in {len(digests)} message, "
              f"{len(guance.calls) - calls} Guance call(s)")
        lines = digests[0].splitlines() if digests else []
        for line in [lines[0] if lines else ""] + [x for x in lines if x.startswith("- ")]:
            print(f"   │ {line}")
        return cards == 3 and report.queued == 3 and len(digests) == 1
    finally:
        rt.close()
        server.stop()
