"""One document model, two renderers: Markdown (figures linked) and self-contained HTML (figures inlined).

A :class:`Document` is a title and a list of blocks. The report is built once as blocks;
:func:`to_markdown` and :func:`to_html` only decide how each kind of block looks.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    level: int  # 2 for a section, 3 for a subsection (the title is level 1)
    text: str
    anchor: str | None = None  # HTML id, for links into the page


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Table:
    head: list[str]
    body: list[list[str]]


@dataclass(frozen=True)
class Figure:
    path: Path  # a PNG
    caption: str


@dataclass(frozen=True)
class Code:
    text: str
    language: str = ""
    summary: str | None = None  # HTML: folded away under this summary


Block = Heading | Paragraph | Bullets | Table | Figure | Code


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> Document:
        self.blocks.extend(blocks)
        return self


# --- JSON: a dataset's section is built by its own pipeline stage and assembled later ----

KINDS = {cls.__name__: cls for cls in (Heading, Paragraph, Bullets, Table, Figure, Code)}


def blocks_to_json(blocks: list[Block], base: Path) -> list[dict]:
    """Plain data; figure paths relative to ``base`` (the reports folder)."""
    out = []
    for block in blocks:
        raw = {"kind": type(block).__name__, **{k: getattr(block, k) for k in block.__dataclass_fields__}}
        if isinstance(block, Figure):
            raw["path"] = Path(block.path).relative_to(base).as_posix()
        out.append(raw)
    return out


def blocks_from_json(raw: list[dict], base: Path) -> list[Block]:
    blocks = []
    for item in raw:
        fields = {k: v for k, v in item.items() if k != "kind"}
        if item["kind"] == "Figure":
            fields["path"] = Path(base) / fields["path"]
        blocks.append(KINDS[item["kind"]](**fields))
    return blocks


# --- Markdown ------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", r"\|")


def markdown_table(table: Table) -> list[str]:
    return (["| " + " | ".join(map(_md_cell, table.head)) + " |", "|" + "---|" * len(table.head)]
            + ["| " + " | ".join(map(_md_cell, row)) + " |" for row in table.body])


def _md_block(block: Block, base: Path) -> list[str]:
    if isinstance(block, Heading):
        return ["#" * block.level + " " + block.text]
    if isinstance(block, Paragraph):
        return [block.text]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    if isinstance(block, Table):
        return markdown_table(block)
    if isinstance(block, Figure):
        rel = Path(block.path).relative_to(base).as_posix()
        return [f"![{block.caption}]({rel})", "", f"*{block.caption}*"]
    if isinstance(block, Code):
        return [f"```{block.language}", block.text.rstrip("\n"), "```"]
    raise TypeError(f"not a block: {block!r}")


def to_markdown(doc: Document, base: Path) -> str:
    """The document as Markdown; figure links relative to ``base`` (the folder of the .md file)."""
    lines = [f"# {doc.title}", ""]
    for block in doc.blocks:
        lines += _md_block(block, Path(base)) + [""]
    return "\n".join(lines) + "\n"


# --- HTML ----------------------------------------------------------------------------

STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
         "img{max-width:100%;display:block;margin:0.5em 0}pre{font-size:11px;background:#f6f6f6;padding:0.5em}")


def html_table(table: Table) -> str:
    e = html.escape
    return ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table.body)
            + "</table>")


def _html_block(block: Block) -> str:
    e = html.escape
    if isinstance(block, Heading):
        anchor = f" id='{e(block.anchor)}'" if block.anchor else ""
        return f"<h{block.level}{anchor}>{e(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{e(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{e(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        return html_table(block)
    if isinstance(block, Figure):
        data = base64.b64encode(Path(block.path).read_bytes()).decode()
        return (f"<figure><img alt='{e(block.caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{e(block.caption)}</figcaption></figure>")
    if isinstance(block, Code):
        pre = f"<pre>{e(block.text)}</pre>"
        return f"<details><summary>{e(block.summary)}</summary>{pre}</details>" if block.summary else pre
    raise TypeError(f"not a block: {block!r}")


def to_html(doc: Document) -> str:
    """The document as one self-contained HTML page (figures inlined as base64 PNGs)."""
    head = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(doc.title)}</h1>")
    return "\n".join([head, *map(_html_block, doc.blocks), "</body></html>"]) + "\n"
