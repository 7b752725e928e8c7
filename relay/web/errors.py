"""The one shape of every refusal: JSON {"error": …} with extra fields (a hint, a retry time)."""

from __future__ import annotations

from typing import Any

from flask import jsonify


def error(status: int, message: str, **extra: Any):
    resp = jsonify({"error": message, **extra})
    resp.status_code = status
    return resp
