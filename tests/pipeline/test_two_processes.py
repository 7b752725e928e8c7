"""Two processes, one after the other, on one database (SQLite and a real PostgreSQL server):
each issue is delivered once, in order."""

from relay.pipeline.deliver import deliver
from relay.pipeline.poll import poll


def test_issue_delivered_once_by_two_processes(make_runtime, database_url, guance, feishu,
                                               clock):
    rt = make_runtime(database_url=database_url)
    poll(rt)
    clock.advance(20)
    first = guance.add_issue("queue depth high", level="system_level_1")
    clock.advance(40)
    poll(rt)
    deliver(rt)
    restarted = make_runtime(database_url=database_url)  # a second process on the same database
    clock.advance(60)
    second = guance.add_issue("consumer lag", level=2)
    clock.advance(1)
    poll(restarted)
    deliver(restarted)
    sent = [c["issue_uuid"] for c in feishu.for_hook("hook-default")]
    assert sent == [first, second]
