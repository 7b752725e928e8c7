"""Chat text → Guance comment, for every platform: parse `#uuid#text`, post the comment, log it."""
