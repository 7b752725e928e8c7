"""Text from outside (an issue's title and message, a Guance comment, a chat name) made inert for
each of Feishu's dialects, so it can never @-mention anyone, open a tag or hide a link; relay's
own mentions (relay/platforms/feishu/card_update.py) are added after, and only they ping.

- lark_md / markdown (card text): Feishu documents HTML entities (`&#60;` for `<`, …) as the way to
  show markdown's special characters as themselves, so `<at id=all></at>`, `<font>`, `[x](url)`
  arrive as the very characters, shown as written. Emphasis (`**99%**`) is left as markdown: it
  pings nobody and hides no link, and monitors' messages written in markdown keep their bold.
- plain_text (a card's header): shown as written by Feishu; nothing to do (entities would show).
- text messages (thread lines, follow-ups, answers) and flow params (a flow lays them out in a
  text or a card, relay cannot tell which): no escape is documented, so a zero-width space goes
  after the `<` that opens a tag Feishu reads there (`<at user_id="all">`, `<a href>`, `<b>`,
  `<i>`, `<u>`, `<s>`) and inside `](`: the text reads the same and no tag, mention or link
  starts there; other text (`a < b`, `<issueUUID>`, `@所有人`, which is no mention in Feishu) is
  left untouched, so relay's own sentences can go through it whole. Emphasis (`**`) is left as
  it is: a zero-width space would not stop it (it would only hide the stars), and bold text
  pings nobody.
"""

from __future__ import annotations

from relay.platforms.base import zero_width_after

# the characters of lark_md's markup that can ping or mislead: tags (<at>, <font>, <a>,
# <text_tag>), links and images ([…](…)); & so an entity in the text stays as written
_LARK_MD = {c: f"&#{ord(c)};" for c in "&<>[]"}
_LARK_MD_TABLE = str.maketrans(_LARK_MD)


def lark_md(text: str) -> str:
    """`text` for a lark_md or markdown element: its special characters as HTML entities."""
    return text.translate(_LARK_MD_TABLE)


# the tags a text message reads (<at …>, <a …>, <b> <i> <u> <s>), in any case, with spaces
_TEXT_MESSAGE = zero_width_after(r"<(?=\s*/?\s*(?i:at|a|b|i|u|s)\b)|\](?=\()")


def text_message(text: str) -> str:
    """`text` for a text message or a flow's params: its markup broken by zero-width spaces."""
    return _TEXT_MESSAGE(text)
