"""mcdropout.report.document: the one document model and its two renderers (Markdown with linked figures, HTML with
inlined ones), and the JSON a dataset's section is stored as."""

import base64
import json
import re
from pathlib import Path

import pytest

from mcdropout.report.document import (
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    blocks_from_json,
    blocks_to_json,
    html_table,
    markdown_table,
    to_html,
    to_markdown,
)

PNG = b"\x89PNG\r\n\x1a\n fake bytes"


@pytest.fixture
def png(tmp_path) -> Path:
    path = tmp_path / "figures" / "regression" / "fits.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(PNG)
    return path


@pytest.fixture
def doc(png) -> Document:
    return Document("Report <1>", [
        Paragraph("x < y & z"),
        Heading(2, "Section"),
        Table(["p", "a|b"], [["0.5 (best)", "<b>"]]),
        Heading(3, "Comparison", anchor="comparison-regression"),
        Bullets(["one & two", "three"]),
        Figure(png, "Fit 'quoted' <caption>"),
        Code("a: 1\nb: <2>\n", "yaml", summary="params"),
    ])


# --- the model ----------------------------------------------------------------------------


def test_add_appends_in_order_and_returns_the_document():
    doc = Document("t")
    assert doc.blocks == []
    same = doc.add(Paragraph("a"), Paragraph("b")).add(Heading(2, "c"))
    assert same is doc
    assert doc.blocks == [Paragraph("a"), Paragraph("b"), Heading(2, "c")]
    assert Document("u").blocks == []  # each document its own list


# --- Markdown -------------------------------------------------------------------------------


def test_markdown_table_escapes_the_column_separator():
    lines = markdown_table(Table(["p", "a|b"], [["0|1", "x"], ["2", "y"]]))
    assert lines == ["| p | a\\|b |", "|---|---|", "| 0\\|1 | x |", "| 2 | y |"]
    assert markdown_table(Table(["only"], [])) == ["| only |", "|---|"]  # no rows: the head and its rule


def test_markdown_renderer(doc, tmp_path):
    md = to_markdown(doc, tmp_path)
    assert md == ("# Report <1>\n\n"
                  "x < y & z\n\n"
                  "## Section\n\n"
                  "| p | a\\|b |\n|---|---|\n| 0.5 (best) | <b> |\n\n"
                  "### Comparison\n\n"  # the anchor is HTML's: Markdown headings have their own
                  "- one & two\n- three\n\n"
                  "![Fit 'quoted' <caption>](figures/regression/fits.png)\n\n*Fit 'quoted' <caption>*\n\n"
                  "```yaml\na: 1\nb: <2>\n```\n\n")


def test_markdown_figure_links_are_relative_to_the_base(png, tmp_path):
    doc = Document("t", [Figure(png, "c")])
    assert "](regression/fits.png)" in to_markdown(doc, tmp_path / "figures")
    assert "](figures/regression/fits.png)" in to_markdown(doc, str(tmp_path))  # a str base works too
    with pytest.raises(ValueError):  # a figure outside the report's folder has no relative link
        to_markdown(doc, tmp_path / "elsewhere")


def test_markdown_code_without_a_language_and_trailing_newlines():
    md = to_markdown(Document("t", [Code("x = 1\n\n\n")]), Path("."))
    assert md == "# t\n\n```\nx = 1\n```\n\n"


def test_markdown_refuses_what_is_not_a_block():
    with pytest.raises(TypeError, match="not a block: 'loose text'"):
        to_markdown(Document("t", ["loose text"]), Path("."))


# --- HTML -------------------------------------------------------------------------------------


def test_html_table_escapes_cells_and_keeps_the_pipe():
    assert html_table(Table(["a|b", "<c>"], [["1 & 2", "\"q\""]])) == (
        "<table><tr><th>a|b</th><th>&lt;c&gt;</th></tr>"
        "<tr><td>1 &amp; 2</td><td>&quot;q&quot;</td></tr></table>")


def test_html_renderer_escapes_and_inlines(doc, png):
    page = to_html(doc)
    assert page.startswith("<!doctype html><html><head><meta charset='utf-8'>") and page.endswith("</body></html>\n")
    assert "<title>Report &lt;1&gt;</title>" in page and "<h1>Report &lt;1&gt;</h1>" in page
    assert "<p>x &lt; y &amp; z</p>" in page
    assert "<h2>Section</h2>" in page  # no anchor: no id
    assert "<table><tr><th>p</th><th>a|b</th></tr><tr><td>0.5 (best)</td><td>&lt;b&gt;</td></tr></table>" in page
    assert "<h3 id='comparison-regression'>Comparison</h3>" in page
    assert "<ul><li>one &amp; two</li><li>three</li></ul>" in page
    assert (f"<figure><img alt='Fit &#x27;quoted&#x27; &lt;caption&gt;' src='data:image/png;base64,"
            f"{base64.b64encode(PNG).decode()}'><figcaption>Fit &#x27;quoted&#x27; &lt;caption&gt;</figcaption>"
            f"</figure>") in page
    assert "<details><summary>params</summary><pre>a: 1\nb: &lt;2&gt;\n</pre></details>" in page
    assert "figures/" not in page  # self-contained: the figure travels inside the page
    # every tag in the page is one the renderer writes: no user text slipped through as markup
    assert not re.search(r"<(?!/?(html|head|meta|title|style|body|h[123]|p|table|tr|th|td|ul|li|figure|img|"
                         r"figcaption|details|summary|pre)\b|!doctype)", page)


def test_html_blocks_in_document_order(doc):
    page = to_html(doc)
    order = ["<p>x &lt;", "<h2>", "<table>", "<h3 ", "<ul>", "<figure>", "<details>"]
    positions = [page.index(tag) for tag in order]
    assert positions == sorted(positions)


def test_html_code_without_summary_is_a_plain_pre_and_anchor_is_escaped():
    page = to_html(Document("t", [Code("<x>"), Heading(2, "h", anchor="a'b")]))
    assert "<pre>&lt;x&gt;</pre>" in page and "<details>" not in page
    assert "<h2 id='a&#x27;b'>h</h2>" in page


def test_html_refuses_what_is_not_a_block():
    with pytest.raises(TypeError, match="not a block"):
        to_html(Document("t", [("a", "tuple")]))


def test_html_of_a_missing_figure_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        to_html(Document("t", [Figure(tmp_path / "gone.png", "c")]))


# --- JSON: sections stored by one stage, assembled by another ---------------------------------


def test_blocks_to_json_is_plain_data_with_relative_figure_paths(doc, tmp_path):
    raw = blocks_to_json(doc.blocks, tmp_path)
    assert json.loads(json.dumps(raw)) == raw  # plain JSON values only
    assert [r["kind"] for r in raw] == ["Paragraph", "Heading", "Table", "Heading", "Bullets", "Figure", "Code"]
    assert raw[1] == {"kind": "Heading", "level": 2, "text": "Section", "anchor": None}
    assert raw[2] == {"kind": "Table", "head": ["p", "a|b"], "body": [["0.5 (best)", "<b>"]]}
    assert raw[5] == {"kind": "Figure", "path": "figures/regression/fits.png", "caption": "Fit 'quoted' <caption>"}
    assert raw[6] == {"kind": "Code", "text": "a: 1\nb: <2>\n", "language": "yaml", "summary": "params"}


def test_blocks_round_trip_through_json(doc, tmp_path):
    raw = json.loads(json.dumps(blocks_to_json(doc.blocks, tmp_path)))
    back = blocks_from_json(raw, tmp_path)
    assert back == doc.blocks
    assert [type(b) for b in back] == [type(b) for b in doc.blocks]
    assert back[5].path == tmp_path / "figures" / "regression" / "fits.png"
    # the same document renders the same after the trip
    assert to_markdown(Document(doc.title, back), tmp_path) == to_markdown(doc, tmp_path)
    assert to_html(Document(doc.title, back)) == to_html(doc)


def test_json_figures_follow_the_base_they_are_read_against(png, tmp_path):
    raw = blocks_to_json([Figure(png, "c")], tmp_path)
    (moved,) = blocks_from_json(raw, "/elsewhere/reports")  # a str base works too
    assert moved == Figure(Path("/elsewhere/reports/figures/regression/fits.png"), "c")
    with pytest.raises(ValueError):  # a figure outside the base cannot be stored relative to it
        blocks_to_json([Figure(png, "c")], tmp_path / "other")


def test_json_of_an_unknown_kind_is_refused():
    with pytest.raises(KeyError):
        blocks_from_json([{"kind": "Video", "path": "a.mp4"}], Path("."))
