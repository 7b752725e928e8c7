"""`/actions/<issue>/<action>`: the signed Claim / Resolve links on cards (relay/replies/links.py);
no other action is taken here, whatever its signature.

GET never acts (chat apps fetch links to draw previews): it shows a confirmation page whose
button POSTs. The POST checks the signature and expiry again and takes the link in the database
(one insert: a link acts once, across replicas), then acts like a command in chat and comments
"Resolved from DingTalk link". A use Guance refused or rate-limited gives the link back, so it can
be tried again by hand; one that may have landed (no answer in time, or a 5xx from Guance once
the change was sent) stays used. Each use is on
the delivery log page's reply log and in /metrics. Pages are server-rendered and escaped, no JS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, render_template, request

from relay.platforms.render import format_time
from relay.incidents.outcome import UNSURE
from relay.replies.actions import (ACTIONS, Command, Where, note_action, origin_of_link,
                                   reply_status, take_action)
from relay.replies.links import LINKED, PATH, link_signer
from relay.replies.parse import ISSUE_UUID
from relay.store import actions as action_store
from relay.web.ui import HEADERS

if TYPE_CHECKING:
    from relay.runtime import Runtime



def action_links_blueprint(rt: Runtime) -> Blueprint:
    bp = Blueprint("action_links", __name__, template_folder="templates")
    signer = link_signer(rt.settings, rt.clock.now)
    text = rt.text  # the pages in RELAY_LANGUAGE

    def page(status: int, title: str, message: str, button: str = ""):
        html = render_template("action.html", title=title, text=message, button=button,
                               lang=text.language, target=request.full_path,
                               name_label=text("action.page_name"))
        # the URL is a capability: not cached, not indexed, not sent on as a referrer; the
        # delivery log page's headers (no framing, no scripts)
        return html, status, {**HEADERS, "X-Robots-Tag": "noindex"}

    def check(issue: str, action: str):
        """None when the link is good and unused; else the page saying why not."""
        if signer is None:
            return page(404, text("action.page_off_title"), text("action.page_off_text"))
        via, expires, given = (request.args.get(k, "") for k in ("via", "e", "s"))
        if action not in LINKED or not ISSUE_UUID.fullmatch(issue) or len(via) > 32:
            return page(403, text("action.page_bad_title"), text("action.page_bad_text"))
        problem = signer.check(issue, action, via, expires, given, rt.clock.now())
        if problem == "bad":
            return page(403, text("action.page_bad_title"), text("action.page_bad_text"))
        if problem == "expired":
            return page(410, text("action.page_expired_title"), text(
                "action.page_expired_text", hours=signer.hours, issue=issue, action=action))
        used = action_store.get(rt.engine, "link:" + given.lower())
        if used is not None:
            return used_page(used.used_at)
        return None

    def used_page(when: int):
        return page(409, text("action.page_used_title"),
                    text("action.page_used_text", when=format_time(when, rt.settings.tz)))

    @bp.get(PATH)
    def confirm(issue: str, action: str):
        refused = check(issue, action)
        if refused is not None:
            return refused
        label, via = text(f"action.label_{action}"), request.args["via"]
        return page(200, text("action.page_confirm_title", label=label, issue=issue),
                    text("action.page_confirm_text", verb=label.lower(), issue=issue, via=via),
                    button=text("action.page_button", label=label, issue=issue))

    @bp.post(PATH)
    def act(issue: str, action: str):
        refused = check(issue, action)
        if refused is not None:
            return refused
        via, key = request.args["via"], "link:" + request.args["s"].lower()
        now = int(rt.clock.now())
        if not action_store.take(rt.engine, key, issue, action, "link", now):
            return used_page(now)  # another click won the race a moment ago
        name = " ".join(str(request.form.get("name", "")).split())[:80]
        outcome = take_action(rt, issue, Command(ACTIONS[action], ""),
                              origin_of_link(text, via, name), "link", Where("link"), name)
        note_action(rt, outcome, f"/{action} by {via} link {name}".strip(), name or f"{via} link")
        if outcome.done or outcome.kind in UNSURE:  # Guance holds the change, or may
            action_store.finish(rt.engine, key, outcome.said)
        else:  # nothing changed in Guance: the link may be used again
            action_store.release(rt.engine, key)
        if outcome.done:
            return page(200, text("action.page_done_title"), outcome.said)
        return page(reply_status(outcome), text("action.page_failed_title"), outcome.said)

    return bp
