"""How the report looks: one self-contained HTML file (figures inlined as base64 PNG) and Markdown.

The Markdown report links its figures as PNG files in a folder beside it, so it reads well on a code
host; the HTML report needs nothing but itself.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from server.report.document import Document, Figure, Table

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } caption { font-weight: bold; text-align: left; padding: 0.3em 0; }
.notes { font-size: 0.8em; color: #555; margin: -0.4em 0 1em 0; }
figure { margin: 1em 0; } figcaption { font-size: 0.85em; color: #444; }
img { max-width: 100%; }
"""


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    parts = [f"<table><caption>{html.escape(table.caption)}</caption><tr>{head}</tr>{body}</table>"]
    if table.notes:
        items = "".join(f"<li>{html.escape(note)}</li>" for note in table.notes)
        parts.append(f'<ul class="notes">{items}</ul>')
    return "\n".join(parts)


def _html_figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.caption)
    image = f'<img alt="{caption}" src="data:image/png;base64,{data}">'
    return f"<figure>{image}<figcaption>{caption}</figcaption></figure>"


def to_html(document: Document) -> str:
    """The report as one HTML page with every figure embedded."""
    body = [
        f"<h1>{html.escape(document.title)}</h1>",
        f'<p class="subtitle">{html.escape(document.subtitle)}</p>',
    ]
    for section in document.sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                body.append(_html_table(block))
            elif isinstance(block, Figure):
                body.append(_html_figure(block))
            else:
                body.append(f"<p>{html.escape(block)}</p>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(document.title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _markdown_cell(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def _markdown_table(table: Table) -> list[str]:
    lines = [f"**{table.caption}**", ""] if table.caption else []
    lines.append("| " + " | ".join(_markdown_cell(c) for c in table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in table.rows]
    lines += [""] + [f"- {note}" for note in table.notes]
    return [*lines, ""]


def to_markdown(document: Document, figure_dir: Path) -> str:
    """The report as Markdown; figures are written as PNG files into `figure_dir` and linked."""
    figure_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# {document.title}", "", f"_{document.subtitle}_", ""]
    for number, section in enumerate(document.sections, start=1):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines += _markdown_table(block)
            elif isinstance(block, Figure):
                path = figure_dir / f"{number:02d}-{block.name}.png"
                path.write_bytes(block.png)
                lines += [f"![{block.caption}]({figure_dir.name}/{path.name})", ""]
            else:
                lines += [block, ""]
    return "\n".join(lines)
