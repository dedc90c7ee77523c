"""README.md stays a front page and docs/ stays navigable: sizes, tables of contents, and links that resolve.

Anchors are computed as GitHub renders them (lower case, punctuation dropped, spaces to hyphens, a
repeated heading numbered), so a renamed section breaks the test instead of a reader's link.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_BYTES = 12 * 1024  # issue 24: a front page that fits on a screen or two, not a manual

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
INDENTED_CODE = re.compile(r"(?:^(?: {4}|\t).*\n)+", re.M)  # a code block after a blank line
INLINE_CODE = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
TOC_ENTRY = re.compile(r"^\s*[-*] \[[^\]]+\]\(#([^)]+)\)\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:


def _prose(text: str) -> str:
    """The text without code: neither fenced blocks nor inline code hold links or headings."""
    text = FENCE.sub("", text)
    text = re.sub(r"\n\n" + INDENTED_CODE.pattern, "\n\n", text, flags=re.M)
    return INLINE_CODE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its rendered text, lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for _, heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = _slug(heading)
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(_prose(path.read_text())) if not EXTERNAL.match(target)]


def broken_link(page: Path, target: str) -> str | None:
    """Why ``target`` in ``page`` leads nowhere, or None when it resolves."""
    file, _, anchor = target.partition("#")
    dest = (page.parent / file).resolve() if file else page
    if not dest.exists():
        return f"{target}: no file {_shown(dest)}"
    if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
        return f"{target}: no heading with the anchor #{anchor} in {_shown(dest)}"
    return None


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def test_readme_is_under_12_kb() -> None:
    assert README.stat().st_size < README_MAX_BYTES, f"README.md is {README.stat().st_size} bytes"


def test_readme_starts_with_what_the_project_is() -> None:
    blocks = [block.strip() for block in README.read_text().split("\n\n") if block.strip()]
    assert blocks[0] == "# video-pipeline"
    description = blocks[1]
    assert not description.startswith(("#", "```", "|", "-", "*", "!", "<", ">")), description
    assert description.startswith("video-pipeline is ")
    assert "Airflow" in description and len(description.split()) >= 30


def test_readme_names_the_two_commands_first() -> None:
    text = README.read_text()
    first_section = text.index("\n## ")
    commands = text.index("make demo"), text.index("make test")
    assert all(first_section < at for at in commands)  # in the first section after the description
    assert text.index("\n## ", first_section + 1) > max(commands)


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_each_docs_page_has_a_table_of_contents(page: Path) -> None:
    """A list of links to the page's own sections before the first one, naming every ## section."""
    text = FENCE.sub("", page.read_text())
    assert text.startswith("# "), f"{page.name} starts with its title"
    before_first_section = text[: text.index("\n## ")] if "\n## " in text else text
    toc = [m.group(1) for line in before_first_section.splitlines() if (m := TOC_ENTRY.match(line))]
    assert toc, f"{page.name} has no table of contents before its first section"
    sections = {_slug(heading) for level, heading in HEADING.findall(text) if level == "##"}
    assert sections - set(toc) == set(), f"{page.name}: sections missing from its table of contents"
    assert set(toc) - anchors(page) == set(), f"{page.name}: table of contents entries with no section"


def test_the_docs_pages_are_linked_from_the_readme() -> None:
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in relative_links(README)}
    assert [page.name for page in DOCS if page.resolve() not in linked] == []


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    links = relative_links(page)
    assert links, f"{page.name} links nowhere"
    assert [why for target in links if (why := broken_link(page, target))] == []


def test_the_link_check_catches_a_broken_link(tmp_path: Path) -> None:
    """The checker itself: a missing file and a missing anchor are reported, a good link is not."""
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n- [Part one](#part-one)\n\n## Part one: `the` start\n\nSee [x](other.md#gone), "
                    "[y](page.md#part-one-the-start), [z](missing.md) and `[not](a-link.md)`.\n")
    (tmp_path / "other.md").write_text("# Other\n\n## Here\n")
    assert relative_links(page) == ["#part-one", "other.md#gone", "page.md#part-one-the-start", "missing.md"]
    assert broken_link(page, "#part-one") is not None  # the heading's anchor is part-one-the-start
    assert broken_link(page, "page.md#part-one-the-start") is None
    assert "no heading" in (broken_link(page, "other.md#gone") or "")
    assert "no file" in (broken_link(page, "missing.md") or "")
