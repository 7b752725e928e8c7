"""The Guance OpenAPI: the client (client.py), its typed errors (errors.py) and what it lists
(model.py). Every call spends one unit of the per-key call budget first."""

from relay.guance.client import (BACKGROUND_WAIT_SECONDS, MAX_PAGES, PAGE_SIZE, REPLY_WAIT_SECONDS,
                                 GuanceClient)
from relay.guance.errors import (GuanceAuthError, GuanceBudgetExhausted, GuanceError,
                                 GuanceHTTPError, GuanceNoAnswer, GuanceNotFound, GuanceRateLimited,
                                 GuanceTransportError)
from relay.guance.model import (LEVEL_NAMES, Channel, Issue, IssuePage, MalformedIssue,
                                html_to_text, managers_of, parse_issue)

__all__ = ["BACKGROUND_WAIT_SECONDS", "MAX_PAGES", "PAGE_SIZE", "REPLY_WAIT_SECONDS",
           "GuanceClient", "GuanceAuthError", "GuanceBudgetExhausted", "GuanceError",
           "GuanceHTTPError", "GuanceNoAnswer", "GuanceNotFound", "GuanceRateLimited",
           "GuanceTransportError", "LEVEL_NAMES", "Channel", "Issue", "IssuePage",
           "MalformedIssue", "html_to_text", "managers_of", "parse_issue"]
