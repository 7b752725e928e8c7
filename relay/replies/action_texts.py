"""Every user-facing text of the issue actions (commands, buttons, links), in one place so they
can move into the message catalogues as they are."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    # what each action is called, and how the comment names it
    "label.claim": "Claim", "label.resolve": "Resolve", "label.close": "Close",
    "label.reopen": "Reopen",
    "done.claim": "Claimed", "done.resolve": "Resolved", "done.close": "Closed",
    "done.reopen": "Reopened",
    "status.10": "Open", "status.15": "Working", "status.20": "Resolved", "status.25": "Closed",
    "status.30": "Pending",
    # the comment relay writes on the issue (the change itself is made as relay's API key)
    "comment": "{done} from {origin}",
    "origin.chat": "{via} by {actor}",
    "origin.link": "{via} link",
    "origin.link_by": "{via} link by {actor}",
    # the answer in chat
    "applied": "{done} {issue}: status is now {status}.",
    "claimed_status_only": "Claimed {issue}: status is now Working. relay does not know your "
                           "Guance account, so the issue's manager is unchanged.",
    "claimed_manager": "Claimed {issue}: you are its manager now. Guance does not take the "
                       "status Working through its API, so the status stays as it was.",
    "claimed_comment_only": "Claimed {issue}: Guance does not take the status Working through "
                            "its API and relay does not know your Guance account, so the claim "
                            "is recorded as a comment only.",
    "fallback": "{done} {issue}: Guance does not take the status {wanted} through its API, so "
                "it is now {status}.",
    "comment_failed": " The comment naming you was not posted ({reason}).",
    "refused": "Not done: Guance refused to change {issue} ({reason}).",
    "not_found": "Not done: there is no issue {issue} in Guance.",
    "busy": "Not done: Guance is busy (rate limit). Nothing will be applied later by itself; "
            "try again in {wait} s.",
    "no_answer": "Not sure: Guance did not answer in time, the change may have been made. Look "
                 "at {issue} in Guance before trying again.",
    "interrupted": "Not sure: relay was interrupted while acting on {issue}, and does not act on "
                   "it again by itself. Look at the issue in Guance and try again if needed.",
    "failed": "Not done: Guance did not take the change ({reason}). Try again later.",
    # Feishu card buttons (toasts answer the click at once; the result follows in the thread)
    "toast.working": "{label}: working on it, the result follows in the card's thread.",
    "toast.again": "{label} was just clicked on this card; it is done once.",
    "toast.refused": "Sorry, my admin has not allowed this chat (or you) to change issues.",
    "toast.unknown": "This button is not one of relay's.",
    # reminders when nobody claims an issue
    "reminder.title": "⏰ Unclaimed for {minutes} min: {title}",
    # mutes from chat
    "done.mute": "Muted",
    "mute.done": "Muted {resource} until {until}: new cards of it are held back (listed on the "
                 "delivery log page) and summed up in one card when the mute ends.",
    "mute.usage": "Not muted: say for how long, e.g. /mute 2h (30m to 7d).",
    "mute.unknown": "Not muted: relay has not sent a card of {issue}, so it does not know its "
                    "source.",
    "mute.summary": "🔕 Mute of {resource} ended: {count} card(s) were held back",
    "mute.more": "… and {count} more",
    # signed links: the confirmation page (GET never acts) and its outcome
    "page.confirm_title": "{label} {issue}?",
    "page.confirm_text": "This link {action_lower}s the Guance issue {issue} and writes a comment "
                         "saying it was done from {via}. Nothing happens until you press the "
                         "button.",
    "page.name": "Your name (optional, shown in the comment)",
    "page.button": "{label} {issue}",
    "page.off_title": "Action links are off",
    "page.off_text": "Set RELAY_PUBLIC_URL and RELAY_ACTION_LINK_SECRET to turn them on.",
    "page.bad_title": "This link is not valid",
    "page.bad_text": "It was not made by this relay, or it was changed. Use the link on the card.",
    "page.expired_title": "This link has expired",
    "page.expired_text": "Links on cards work for {hours} hours. Change the issue in Guance, or "
                         "with a command in chat: #{issue}#/{action}",
    "page.used_title": "This link was already used",
    "page.used_text": "It was used at {when}; a link acts once.",
    "page.done_title": "Done",
    "page.failed_title": "Not done",
}


def say(key: str, **values: object) -> str:
    return TEXTS[key].format(**values)
