"""English texts. Keys and {placeholders} must match zh_CN.py (tests/i18n/test_languages.py
checks)."""

MESSAGES: dict[str, str] = {
    # levels (P0, P1, P2 and custom levels are shown as Guance names them)
    "level.unknown": "Unknown",
    # DingTalk and WeCom cards (the Feishu card is card_template.en.json)
    "card.colon": ": ",  # between a field's name and its value
    "card.level": "Level",
    "card.source": "Source",
    "card.created": "Created",
    "card.channel": "Channel",
    "card.open": "Open in Guance",
    "card.reply_hint": "Reply: @bot #{uuid}#your comment",
    "card.truncated": "… (truncated, {count} more characters)",
    # storm digest
    "digest.title": "Storm: {count} new issues in {channel}",
    "digest.counts": "{count} new issues: {levels}",
    "digest.more": "… and {count} more",
    "digest.source": "relay digest",
    # replies: the #uuid#text syntax
    "reply.usage": "send '@bot #<issueUUID>#<your comment>', "
                   "e.g. '#issue_3f9a1c2b4d5e6f70#restarted the pod'",
    "parse.no_mark": "no '#' in the message",
    "parse.prefix": "the message must start with '#' (after the @mention)",
    "parse.second_mark": "missing the '#' between the issue UUID and the text",
    "parse.not_uuid": "{uuid} is not an issue UUID (issue_ followed by letters and digits)",
    "parse.empty": "the comment text is empty",
    "parse.too_long": "the comment is {length} characters; Guance takes at most {max}",
    # replies: what Guance did with the comment
    "comment.not_found": "no such issue in Guance",
    "comment.no_answer": "Guance did not answer in time; the comment may have been posted: "
                         "look at the issue before sending it again",
    "comment.rate_limited": "Guance is rate-limiting relay; try again shortly",
    "comment.refused": "Guance did not take the comment",
    "comment.replies_full": "{count} replies are already waiting on Guance; try again shortly",
    # any route: a body too large, an unexpected error
    "web.too_large": "request body is larger than {max} bytes",
    "web.crash": "internal error; see relay's log",
    # /feishu/reply refusals
    "feishu_reply.off": "replies through a Feishu flow are off: RELAY_REPLY_TOKEN is not set",
    "feishu_reply.token": "missing or wrong token",
    "feishu_reply.token_hint": "send 'Authorization: Bearer <RELAY_REPLY_TOKEN>'",
    "feishu_reply.no_message": "no message: send JSON {{\"content\": \"#<issueUUID>#<text>\"}} "
                               "or a form field 'content'",
    # /dingtalk/reply: refusals and the answers shown in the group
    "dingtalk.off": "DingTalk replies are off: RELAY_DINGTALK_APP_SECRET is not set",
    "dingtalk.no_signature": "missing DingTalk 'timestamp' (ms) or 'sign' header",
    "dingtalk.stale": "the 'timestamp' header is more than an hour from now "
                      "(a replayed request, or a clock far off)",
    "dingtalk.other_robot": "the callback is not for this robot ('robotCode' is not "
                            "RELAY_DINGTALK_ROBOT_CODE)",
    "dingtalk.bad_timestamp": "the 'timestamp' header is not a time in ms (ASCII digits)",
    "dingtalk.replayed": "this 'timestamp' and 'sign' were used before (a replayed request)",
    "dingtalk.bad_signature": "the 'sign' header does not match RELAY_DINGTALK_APP_SECRET",
    "dingtalk.posted": "Posted as a comment on {uuid} ({time}).",
    "dingtalk.malformed": "Not posted: {error}. {how_to}",
    "dingtalk.not_found": "Not posted: there is no issue {uuid} in Guance; check the UUID on "
                          "the alert.",
    "dingtalk.too_long": "Not posted: {error}.",
    "dingtalk.unsure": "Not sure: {error}.",
    "dingtalk.busy": "Not posted: Guance is busy (rate limit). Try again in {seconds} s.",
    "dingtalk.failed": "Not posted: Guance did not take the comment ({detail}). Try again later.",
    "dingtalk.not_text": "Not posted: relay reads only text messages. {how_to}",
    # the Feishu app bot's answers in a card's thread
    "app.how_to": "reply to an alert card (in its thread) and @-mention me, or send "
                  "'@bot #<issueUUID>#<your comment>'",
    "app.not_allowed": "Sorry, I can only post comments to Guance from the chats (and people) "
                       "my admin has allowed. This chat is {chat_id}; ask the relay admin to add "
                       "it to RELAY_FEISHU_ALLOWED_CHATS.",
    "app.not_text": "I can only read text messages: {how_to}.",
    "app.posted": "Comment posted on Guance issue {issue}.",
    "app.not_found": "Not posted: Guance has no issue {issue}.",
    "app.unsure": "Not sure it was posted: Guance did not answer in time. Please look at the "
                  "issue before sending it again.",
    "app.refused_key": "Not posted: Guance refused relay's API key; please tell the relay admin.",
    "app.not_answering": "Not posted: Guance is not answering ({detail}). Please try again later.",
    "app.too_long": "Not posted: {error}.",
    "app.malformed": "Not posted: {error}. Use {how_to}.",
    "app.which_issue": "Not posted: I don't know which issue you mean. Please {how_to}.",
    "app.digest": "Not posted: that card sums up several issues; send "
                  "'@bot #<issueUUID>#<your comment>' with one of the UUIDs it lists.",
    "app.empty": "Not posted: the comment is empty; write it after the @-mention.",
    "app.thread_too_long": "Not posted: the comment is {length} characters; Guance takes {max}.",
    "app.signature": "{text}\n\n— {author} (via Feishu)",
    "app.unknown_user": "unknown user",
    # notify_replies: a comment written in Guance, posted into the card's thread
    "notify.replied": "💬 {who} replied in Guance: {content}",
    "notify.replied_on": "💬 {who} replied on '{title}': {content}",
    "notify.someone": "someone",
    # the delivery log page
    "page.title": "relay: delivery log",
    "page.heading": "Delivery log",
    "page.status": "Status",
    "page.channel": "Channel",
    "page.all": "all",
    "page.show": "Show",
    "page.deliveries": "Deliveries",
    "page.newest": "(newest {count})",
    "page.queued": "Queued",
    "page.level": "Level",
    "page.issue_title": "Title",
    "page.destination": "Destination",
    "page.attempts": "Attempts",
    "page.last_error": "Last error",
    "page.no_deliveries": "No deliveries.",
    "page.no_match": "No deliveries match these filters.",
    "page.replies": "Replies",
    "page.received": "Received",
    "page.issue": "Issue",
    "page.text": "Text",
    "page.answer": "Answer",
    "page.error": "Error",
    "page.no_replies": "No replies yet.",
    "page.message_title": "relay: {title}",
    "page.off_title": "The delivery log page is off",
    "page.off_text": "Set RELAY_UI_TOKEN to a long random value and restart relay, then open "
                     "/?token=<that value>.",
    "page.token_title": "Token needed",
    "page.token_text": "Open /?token=<RELAY_UI_TOKEN> (the value relay was started with).",
    "page.bad_status_title": "Unknown status",
    "page.bad_status_text": "status must be one of: {statuses} (or empty for all).",
    "page.long_channel_title": "Channel name too long",
    "page.long_channel_text": "A channel name has at most 255 characters.",
    "status.pending": "pending",
    "status.failed": "failed",
    "status.dead": "dead",
    "status.sent": "sent",
    "status.digested": "digested",
    "status.muted": "muted",
    # the delivery log page's chart
    "chart.cards_title": "Cards sent per hour, last 24 hours, by level",
    "chart.latency_title": "Delivery latency per hour (issue created → card sent)",
    "chart.p50": "median (p50)",
    "chart.p90": "p90",
    "chart.none": "No cards sent in the last 24 hours.",
    "chart.bar_tip": "{hour}: {count} card(s) {level}",
    "chart.latency_tip": "{hour}: p50 {p50}, p90 {p90} ({count} card(s))",
    "chart.seconds": "{n} s",
    "chart.minutes": "{n} min",
    "chart.hours": "{n} h",
    # cards that follow the issue (relay/platforms/status_texts.py)
    "follow.status.10": "Open",
    "follow.status.15": "Working",
    "follow.status.20": "Resolved",
    "follow.status.25": "Closed",
    "follow.status.30": "Pending",
    "follow.status.unknown": "Status {code}",
    "follow.line.resolved": "✅ Resolved after {duration} by {who}: {title}",
    "follow.line.closed": "☑️ Closed after {duration} by {who}: {title}",
    "follow.line.reopened": "🔁 Reopened by {who}: {title}",
    "follow.line.claimed": "🙋 Claimed by {who}: {title}",
    "follow.line.pending": "⏸️ Pending, set by {who}: {title}",
    "follow.digest": "📋 Storm follow-up: {resolved} of {total} resolved, {closed} closed ({title})",
    "follow.someone": "someone",
    "follow.nobody": "nobody yet",
    "follow.card_status": "**Status:** {status} · **Owner:** {owners}\n**Changed by** {who} at {at} · open for {duration}",
    "follow.card_header": "[{status}] {title}",
    "follow.mention_line": "**Attention:** {people}",
    "follow.minutes": "{n} min",
    "follow.hours": "{h} h {m} min",
    "follow.days": "{d} d {h} h",
    "follow.under_minute": "<1 min",
    # acting on issues from chat (relay/incidents/, relay/replies/actions.py, links, buttons)
    "action.label_claim": "Claim",
    "action.label_resolve": "Resolve",
    "action.label_close": "Close",
    "action.label_reopen": "Reopen",
    "action.done_claim": "Claimed",
    "action.done_resolve": "Resolved",
    "action.done_close": "Closed",
    "action.done_reopen": "Reopened",
    "action.done_mute": "Muted",
    # the comment relay writes on the issue (the change itself is made as relay's API key)
    "action.comment": "{done} from {origin}",
    "platform.feishu": "Feishu",
    "platform.dingtalk": "DingTalk",
    "platform.wecom": "WeCom",
    "action.origin_chat": "{via} by {actor}",
    "action.origin_link": "{via} link",
    "action.origin_link_by": "{via} link by {actor}",
    "action.someone": "someone",
    # the answer in chat
    "action.applied": "{done} {issue}: status is now {status}.",
    "action.claimed_status_only": "Claimed {issue}: status is now Working. relay does not know "
                                  "your Guance account, so the issue's manager is unchanged.",
    "action.claimed_manager": "Claimed {issue}: you are its manager now. Guance does not take "
                              "the status Working through its API, so the status stays as it "
                              "was.",
    "action.manager_needs_uuid": "RELAY_MENTIONS knows you as {person}, but Guance takes only "
                                 "an account UUID (acnt_…), an email or a team UUID (group_…) "
                                 "as manager: map yours to make a claim set you as manager.",
    "action.claimed_comment_only": "Claimed {issue}: Guance does not take the status Working "
                                   "through its API and relay does not know your Guance "
                                   "account, so the claim is recorded as a comment only.",
    "action.fallback": "{done} {issue}: Guance does not take the status {wanted} through its "
                       "API, so it is now {status}.",
    "action.comment_failed": " The comment naming you was not posted ({reason}).",
    "action.refused": "Not done: Guance refused to change {issue} ({reason}).",
    "action.not_found": "Not done: there is no issue {issue} in Guance.",
    "action.busy": "Not done: Guance is busy (rate limit). Nothing will be applied later by "
                   "itself; try again in {wait} s.",
    "action.no_answer": "Not sure: Guance did not answer in time, the change may have been "
                        "made. Look at {issue} in Guance before trying again.",
    "action.interrupted": "Not sure: relay was interrupted while acting on {issue}, and does "
                          "not act on it again by itself. Look at the issue in Guance and try "
                          "again if needed.",
    "action.failed": "Not done: Guance did not take the change ({reason}). Try again later.",
    "action.may_have_landed": "Not sure: Guance failed while changing {issue} ({reason}), the "
                              "change may have been made. Look at {issue} in Guance before "
                              "trying again.",
    # who may act from where (relay/incidents/chats.py)
    "action.not_carded_here": "Not done: the card of {issue} was not sent to this chat, and an "
                              "issue is changed only from a chat that got its card (this chat "
                              "stands for {destinations} in {setting}).",
    "action.unknown_chat": "Not done: this chat ({chat}) stands for no destination in {setting}, "
                           "so it cannot change issues (comments still work).",
    "action.user_not_listed": "Not done: only the people listed in {setting} may change issues "
                              "from here.",
    "action.flow_off": "Not done: actions through the Feishu flow are switched off ({setting}); "
                       "use the card's button or link.",
    "action.self_declared": "{name} (as the Feishu flow says, not checked)",
    "action.flow_sender": "The sender “{name}” is what the Feishu flow sent: self-declared, not "
                          "checked by relay.",
    # Feishu card buttons (toasts answer the click at once; the result follows in the thread)
    "action.toast_working": "{label}: working on it, the result follows in the card's thread.",
    "action.toast_again": "{label} was just clicked on this card; it is done once.",
    "action.toast_refused": "Sorry, my admin has not allowed this chat (or you) to change "
                            "issues.",
    "action.toast_unknown": "This button is not one of relay's.",
    "action.toast_busy": "{label}: not done, relay's database is busy. Click again in a moment.",
    # reminders when nobody claims an issue
    "action.reminder_title": "⏰ Unclaimed for {minutes} min: {title}",
    "action.reminder_digest_title": "⏰ {count} issues unclaimed",
    # mutes from chat
    "action.mute_done": "Muted {resource} until {until} for this chat's destinations "
                        "({destinations}): new cards of it are held back here (listed on the "
                        "delivery log page) and summed up in one card when the mute ends; other "
                        "groups still get them. {p0}",
    "action.mute_p0_through": "P0 cards still come through (/mute 2h P0 holds them too).",
    "action.mute_p0_held": "P0 cards are held back too, as the mute says P0.",
    "action.mute_capped": "A mute lasts at most {hours} h (RELAY_MUTE_MAX_HOURS).",
    "action.mute_usage": "Not muted: say for how long, e.g. /mute 2h (1m to {hours}h; "
                         "/mute 2h P0 holds P0 cards too).",
    "action.mute_unknown": "Not muted: relay has not sent a card of {issue}, so it does not "
                           "know its source.",
    "action.mute_no_chat": "Not muted: a mute covers only the chat it comes from, and this "
                           "route does not say which chat that is (the Feishu flow, a signed "
                           "link). Mute from a group relay's app bot serves "
                           "(RELAY_FEISHU_APP_CHATS, RELAY_DINGTALK_APP_GROUPS).",
    "action.mute_generic": "Not muted: {issue} names no monitor, check or resource, only its "
                           "kind ({source}); muting that would silence every issue of the kind.",
    "action.mute_notice": "🔕 {resource} muted here until {until} ({who})",
    "action.mute_notice_text": "New cards of it for this group are held back and summed up in "
                               "one card when the mute ends. {p0}",
    "action.mute_none": "Nothing was held back.",
    "action.mute_summary": "🔕 Mute of {resource} ended: {count} card(s) were held back",
    "action.mute_more": "… and {count} more",
    # signed links: the confirmation page (GET never acts) and its outcome
    "action.page_confirm_title": "{label} {issue}?",
    "action.page_confirm_text": "This link {verb}s the Guance issue {issue} and writes a "
                                "comment saying it was done from {via}. Nothing happens until "
                                "you press the button.",
    "action.page_name": "Your name (optional, shown in the comment)",
    "action.page_button": "{label} {issue}",
    "action.page_off_title": "Action links are off",
    "action.page_off_text": "Set RELAY_PUBLIC_URL and RELAY_ACTION_LINK_SECRET to turn them "
                            "on.",
    "action.page_bad_title": "This link is not valid",
    "action.page_bad_text": "It was not made by this relay, or it was changed. Use the link on "
                            "the card.",
    "action.page_expired_title": "This link has expired",
    "action.page_expired_text": "Links on cards work for {hours} hours. Change the issue in "
                                "Guance, or with a command in chat: #{issue}#/{action}",
    "action.page_used_title": "This link was already used",
    "action.page_used_text": "It was used at {when}; a link acts once.",
    "action.page_done_title": "Done",
    "action.page_failed_title": "Not done",
    # the delivery log page's list of active mutes
    "page.mutes": "Active mutes",
    "page.mutes_note": "(their cards are listed above as muted)",
    "page.mute_source": "Source",
    "page.mute_destinations": "Destinations",
    "page.mute_until": "Until",
    "page.mute_by": "Muted by",
    "page.mute_issue": "From issue",
}
