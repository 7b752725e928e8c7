"""The documentation a newcomer reads first: the README keeps the two commands CI runs, stays
short, and no link in the README or docs/ leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SET_UP = ("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' "
          "&& .venv/bin/relay sandbox")
TEST = ".venv/bin/python -m pytest"
# Pages other parts of the work are writing; linked already, checked once they exist.
PENDING: set[str] = set()


def pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md")), REPO / "bench/results.md"]


def sh_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", markdown, re.S)]


def without_code(markdown: str) -> str:
    return re.sub(r"```.*?```", "", markdown, flags=re.S)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    headings = re.findall(r"^#+ (.+)$", without_code(path.read_text(encoding="utf-8")), re.M)
    return {anchor(h) for h in headings}


def links(path: Path) -> list[tuple[str, str]]:
    """(target file relative to the repository, anchor or '') of every relative link."""
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", without_code(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, fragment = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        found.append((str(resolved.relative_to(REPO)), fragment))
    return found


def test_the_readme_holds_the_two_commands_and_ci_runs_its_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = sh_blocks(readme)
    assert blocks[:2] == [SET_UP, TEST]
    ci = (REPO / ".ci/run").read_text(encoding="utf-8").splitlines()
    assert [line for line in ci if line and not line.startswith("#")][-1] == TEST


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 260


def test_every_link_leads_to_a_page_and_heading_that_exist():
    broken = []
    for page in pages():
        for file, fragment in links(page):
            target = REPO / file
            if not target.exists():
                if file not in PENDING:
                    broken.append(f"{page.relative_to(REPO)} → {file}")
            elif (fragment and target.suffix == ".md" and fragment not in anchors(target)
                  and f"{file}#{fragment}" not in PENDING):
                broken.append(f"{page.relative_to(REPO)} → {file}#{fragment}")
    assert not broken, broken


def test_the_link_check_can_fail():
    assert anchor("App bot 企业自建应用") == "app-bot-企业自建应用"
    assert anchor("Guance's `shapes`") == "guances-shapes"
    assert "docs/nowhere.md" not in {str(p.relative_to(REPO)) for p in pages()}
