"""The report as a list of blocks (headings, paragraphs, tables, lists, images) and the two
renderers over it, so report.md and report.html always show the same tables.

Images are PNG bytes: Markdown links to `plots/<name>` (the files are written beside it),
HTML embeds them as base64 data URIs so the page is one self-contained file."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Optional, Sequence, Union

NONE = "—"
PLOTS_DIR = "plots"


# --- document blocks ---------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Image:
    name: str  # file name under plots/, e.g. "throughput.png"
    title: str  # caption and alt text
    png: bytes
    width: int  # pixels, for the HTML layout
    height: int


Block = Union[Heading, Para, Table, Bullets, Image]


# --- number formatting -------------------------------------------------------------------

def fmt_num(x: Optional[float], digits: int = 4) -> str:
    """`digits` significant digits for humans; a plain integer once the value has more
    integer digits than that (so never an exponent like 1.235e+04)."""
    if x is None:
        return NONE
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)  # a hand-edited record may carry a string; show it as it is
    if abs(x) >= 10 ** digits - 0.5:  # .4g would round 9999.7 up to '1e+04'
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def fmt_share(x: Optional[float]) -> str:
    return NONE if x is None else f"{100 * x:.1f} %"


_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def fmt_bytes(x: Optional[float], suffix: str = "") -> str:
    """Binary units (1 KiB = 1024 B), 3 significant digits: '512 MiB', '1.21 GiB/s'."""
    if x is None:
        return NONE
    value, unit = float(x), 0
    while abs(value) >= 1024 and unit < len(_BYTE_UNITS) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"  # never '1e+03'
    return f"{text} {_BYTE_UNITS[unit]}{suffix}"


def fmt_wall(t: Any) -> str:
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        return NONE
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- Markdown ----------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block]) -> str:
    parts: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            parts.append(b.text)
        elif isinstance(b, Table):
            lines = ["| " + " | ".join(_md_cell(h) for h in b.headers) + " |",
                     "|" + "|".join("---" for _ in b.headers) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            parts.append("\n".join(lines))
        elif isinstance(b, Bullets):
            parts.append("\n".join(f"- {_md_cell(i)}" for i in b.items))
        elif isinstance(b, Image):
            alt = b.title.replace("[", "(").replace("]", ")")
            parts.append(f"![{alt}]({PLOTS_DIR}/{b.name})")
    return "\n\n".join(parts) + "\n"


# --- HTML --------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 80em; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
li { margin: 0.2em 0; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; height: auto; }
""".strip()


def render_html(blocks: Sequence[Block]) -> str:
    e = html.escape
    title = next((b.text for b in blocks if isinstance(b, Heading) and b.level == 1), "Report")
    body: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{e(b.text)}</h{b.level}>")
        elif isinstance(b, Para):
            body.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Table):
            rows = ["<tr>" + "".join(f"<th>{e(h)}</th>" for h in b.headers) + "</tr>"]
            rows += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows]
            body.append("<table>\n" + "\n".join(rows) + "\n</table>")
        elif isinstance(b, Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{e(i)}</li>" for i in b.items) + "\n</ul>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            body.append(f"<figure><img alt=\"{e(b.title)}\" width=\"{b.width}\" height=\"{b.height}\" "
                        f"src=\"data:image/png;base64,{data}\">"
                        f"<figcaption>{e(b.title)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{e(title)}</title>\n<style>\n{_CSS}\n</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
