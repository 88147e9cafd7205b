"""The README stays short and every relative link of the documentation resolves (issue #28)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)\1(?!`)", re.DOTALL)  # not across a blank line
# [text](target) and ![alt](target); the target may be <bracketed> and may carry a "title"
INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>\n]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)(?:\s+[^)]*)?\)")
# [label]: target
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>\n]*>|\S+)", re.MULTILINE)
EXTERNAL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")  # http(s)://, mailto:, any other scheme


def link_targets(markdown: str) -> list[str]:
    """Every link target of a Markdown text, code blocks and code spans left out."""
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = [m.group(1) for m in INLINE.finditer(text)] + [m.group(1) for m in REFERENCE.finditer(text)]
    return [t[1:-1] if t.startswith("<") and t.endswith(">") else t for t in targets]


def relative_targets(markdown: str) -> list[str]:
    """The targets that name a file or folder of the repository: no URL, no mailto:, no pure #anchor."""
    return [t for t in link_targets(markdown) if t and not t.startswith("#") and not EXTERNAL.match(t)]


def broken_links(page: Path) -> list[str]:
    """The relative link targets of ``page`` that name no existing file or folder (relative to ``page``)."""
    targets = relative_targets(page.read_text(encoding="utf-8"))
    return [t for t in targets if not (page.parent / t.split("#", 1)[0].split("?", 1)[0]).exists()]


def test_the_pages_exist():
    for page in PAGES:
        assert page.is_file(), page


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)}: links to nothing: {broken_links(page)}"


def test_readme_is_short_with_the_two_commands_on_its_first_screen():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines"
    first_screen = "\n".join(lines[:40])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / t.split("#", 1)[0]).resolve() for t in relative_targets(README.read_text(encoding="utf-8"))}
    unlinked = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[a](docs/a.md) and ![b](reports/b.png)", ["docs/a.md", "reports/b.png"]),
        ("[a](docs/a.md#part) [b](#here) [c](https://x.org/y) [d](mailto:me@x.org)", ["docs/a.md#part"]),
        ('[a](<docs/a b.md>) [b](docs/b.md "a title")', ["docs/a b.md", "docs/b.md"]),
        ("[a][ref]\n\n[ref]: ../benchmarks/README.md\n", ["../benchmarks/README.md"]),
        ("`[not](a-link.md)` and\n```python\nx[0](1)\n[no](no.md)\n```\n[yes](yes.md)", ["yes.md"]),
        ("[text with `code`](c.md) and [nested [brackets]](n.md)", ["c.md", "n.md"]),
    ],
)
def test_link_targets(markdown, expected):
    assert relative_targets(markdown) == expected


def test_a_broken_link_is_caught(tmp_path):
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    page.write_text("[me](page.md) [up](../docs) [gone](missing.md#x) [wrong level](docs/page.md)\n", encoding="utf-8")
    assert broken_links(page) == ["missing.md#x", "docs/page.md"]
