"""The Feishu interactive card (custom bot and app bot) as a JSON template with placeholders."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from relay.errors import ConfigError
from relay.platforms.render import CARD_PLACEHOLDERS

PLAIN_TEXT = "plain_text"  # the element kind Feishu shows as written (no markdown, no @)


def default_card_template(language: str) -> Path:
    """The packaged card of a language: card_template.zh-CN.json, card_template.en.json."""
    return Path(__file__).with_name(f"card_template.{language}.json")


class CardTemplate:
    """The card layout as JSON with string.Template placeholders inside its strings, so it can
    be restyled without code. Each string is filled from the values of its element's kind:
    a `plain_text` element's as they are (Feishu shows them as written), any other's (lark_md,
    markdown) from `markup`, the values made inert for markdown (relay/platforms/feishu/inert.py).
    Any text keeps the JSON valid: values go into the parsed strings, not into the JSON text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._tree: Any = None  # the JSON, parsed at the first render

    def render(self, values: dict[str, str], markup: dict[str, str] | None = None) -> Any:
        """The card, `values` in plain_text elements and `markup` (default: `values`) in any
        other."""
        markup = values if markup is None else markup

        def fill(node: Any, own: dict[str, str]) -> Any:
            if isinstance(node, str):
                return string.Template(node).substitute(own)
            if isinstance(node, list):
                return [fill(item, own) for item in node]
            if isinstance(node, dict):
                own = values if node.get("tag") == PLAIN_TEXT else markup
                return {fill(k, values): fill(v, own) for k, v in node.items()}
            return node

        if self._tree is None:
            self._tree = json.loads(self.text)
        return fill(self._tree, markup)


def load_card_template(path: Path | None, language: str) -> CardTemplate:
    """The user's template (or the language's packaged one), checked once by rendering a sample,
    so a broken file stops start-up instead of failing every delivery."""
    var = "RELAY_FEISHU_CARD_TEMPLATE"
    try:
        card = CardTemplate((path or default_card_template(language)).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{var}: cannot read {path}: {type(exc).__name__}") from None
    sample = {name: f'sample "{name}" \\ $ 示例\n' for name in CARD_PLACEHOLDERS}
    try:
        rendered = card.render(sample)
    except KeyError as exc:
        raise ConfigError(f"{var}: unknown placeholder ${exc.args[0]} (known: "
                          + ", ".join(f"${n}" for n in CARD_PLACEHOLDERS) + ")") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{var}: not valid JSON ({exc.msg} at line "
                          f"{exc.lineno} column {exc.colno}); put placeholders inside strings"
                          ) from None
    except ValueError as exc:  # a lone $ (write $$ for a dollar sign)
        raise ConfigError(f"{var}: {exc}; write $$ for a literal $") from None
    if not isinstance(rendered, dict):
        raise ConfigError(f"{var}: the card must be a JSON object")
    return card


def json_2_warning(card: CardTemplate) -> str | None:
    """What a card template in JSON 2.0 (`"schema": "2.0"`) loses: relay adds its action buttons
    and signed links to a JSON 1.0 card's `elements` only, so such a card goes out without them.
    None for a 1.0 card."""
    if str(card.render({name: "" for name in CARD_PLACEHOLDERS}).get("schema")) != "2.0":
        return None
    return ('RELAY_FEISHU_CARD_TEMPLATE is a card in JSON 2.0 ("schema": "2.0"): relay adds '
            "its buttons (Claim, Resolve, …) and signed action links only to JSON 1.0 cards, so "
            "these cards go out without them; write the template in JSON 1.0 "
            "(docs/platforms/feishu-cards.md)")
