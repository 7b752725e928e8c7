"""relay: Guance issues into Feishu, DingTalk and WeCom groups, and the team's replies back onto
the issues."""

__version__ = "0.1.0"
