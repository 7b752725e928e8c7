"""`relay sandbox` and the local fakes it, the tests and the benchmarks run against: Guance,
Feishu webhooks and custom bots, the Feishu open platform, DingTalk and WeCom robots."""
