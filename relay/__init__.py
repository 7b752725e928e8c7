"""relay: Guance issues into Feishu groups, and Feishu replies back onto the issues."""

__version__ = "0.1.0"
