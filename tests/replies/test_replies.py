"""The `#<issueUUID>#<text>` reply convention, on a table of what people actually type."""

from __future__ import annotations

import pytest

from relay.replies.parse import MAX_TEXT, ParsedReply, ReplyParseError, ReplyTooLong, parse_reply

UUID = "issue_3f9a1c2b4d5e6f708192a3b4c5d6e7f8"  # the shape Guance hands out: issue_ + 32 hex


@pytest.mark.parametrize("message, uuid, text", [
    # valid UUID shapes
    (f"#{UUID}#restarted the pod", UUID, "restarted the pod"),
    ("#issue_abcdefgh#ok", "issue_abcdefgh", "ok"),  # shortest accepted: 8 characters
    ("#issue_" + "a" * 64 + "#ok", "issue_" + "a" * 64, "ok"),  # longest accepted: 64
    ("#issue_ABCdef0123456789#ok", "issue_ABCdef0123456789", "ok"),  # mixed case
    # full-width ＃ from Chinese input methods, alone or mixed with ASCII #
    (f"＃{UUID}＃已重启", UUID, "已重启"),
    (f"＃{UUID}#mixed marks", UUID, "mixed marks"),
    (f"#{UUID}＃mixed marks", UUID, "mixed marks"),
    # '#' inside the comment is part of the comment (only the first two marks split)
    (f"#{UUID}#fixed in PR #42, see ＃43", UUID, "fixed in PR #42, see ＃43"),
    (f"#{UUID}##", UUID, "#"),
    (f"#{UUID}#line one\nline two", UUID, "line one\nline two"),
    # leading @mention, as Feishu delivers it
    (f"@relay #{UUID}#done", UUID, "done"),
    (f"@_user_1 #{UUID}#done", UUID, "done"),
    (f'<at user_id="ou_x">relay</at> #{UUID}#done', UUID, "done"),
    (f"@_user_1 @_user_2 #{UUID}#done", UUID, "done"),
    (f"@relay\u00a0#{UUID}#done", UUID, "done"),  # non-breaking space after the mention
    # white space around and between the parts
    (f"  \n\t#{UUID}#  done  \n", UUID, "done"),
    (f"# {UUID} # done", UUID, "done"),
    ("#issue_3f9a1c2b\u200b4d5e6f70#done", "issue_3f9a1c2b4d5e6f70", "done"),  # zero-width space
])
def test_parses_valid_replies(message, uuid, text):
    assert parse_reply(message) == ParsedReply(uuid, text)


@pytest.mark.parametrize("message", [
    # bad UUID shapes: no issue_ prefix
    "#3f9a1c2b4d5e6f708192a3b4c5d6e7f8#text",
    "#repim_3f9a1c2b4d5e6f70#text",
    "#chan_3f9a1c2b4d5e6f70#text",
    "#ISSUE_3f9a1c2b4d5e6f70#text",
    "#issue3f9a1c2b4d5e6f70#text",
    # too short / too long
    "#issue_#text",
    "#issue_abcdefg#text",  # 7 characters
    "#issue_" + "a" * 65 + "#text",
    # illegal characters
    "#issue_3f9a-1c2b-4d5e-6f70#text",
    "#issue_3f9a1c2b4d5e6f70!#text",
    "#issue_3f9a1c2b 4d5e6f70#text",
    "#issue_3f9a1c2b4d5e6f7中#text",
    "#issue_１２３４５６７８９#text",  # full-width digits
    "#<issueUUID>#text",
    # empty text
    f"#{UUID}#",
    f"#{UUID}#   \n ",
    f"@relay #{UUID}＃",
    # garbage: no mark at all
    "",
    "   ",
    "restarted the pod",
    f"@relay {UUID} restarted the pod",
    # garbage: text before the first mark that is not a mention
    f"hello #{UUID}#text",
    f"re: #{UUID}#text",
    f"relay #{UUID}#text",
    # garbage: only one mark
    f"#{UUID}",
    f"#{UUID} restarted the pod",
    f"@relay ＃{UUID} restarted",
])
def test_rejects_malformed_replies(message):
    with pytest.raises(ReplyParseError) as info:
        parse_reply(message)
    assert not isinstance(info.value, ReplyTooLong)
    assert str(info.value)  # the user is told what is wrong


def test_error_names_the_bad_uuid():
    with pytest.raises(ReplyParseError, match="issue_abc"):
        parse_reply("#issue_abc#text")


@pytest.mark.parametrize("length", [MAX_TEXT + 1, 200_000])
def test_too_long_text_is_its_own_error(length):
    with pytest.raises(ReplyTooLong, match=str(MAX_TEXT)):
        parse_reply(f"#{UUID}#" + "x" * length)


def test_text_at_the_limit_is_accepted():
    text = "字" * MAX_TEXT
    assert parse_reply(f"@relay #{UUID}#{text}") == ParsedReply(UUID, text)


def test_surrounding_space_does_not_count_towards_the_limit():
    text = "y" * MAX_TEXT
    assert parse_reply(f"#{UUID}#   {text}   \n").text == text
