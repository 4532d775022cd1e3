"""The self-contained HTML page: figures embedded as base64 PNG data, tables inline, no
script and no external URL, so it opens offline and survives being mailed or copied."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Sequence

import attrs

__all__ = ["Section", "write_page"]

_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1400px}img{max-width:100%;border:1px solid #ddd}"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
          "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}")


@attrs.frozen(kw_only=True)
class Section:
    title: str
    images: tuple[Path, ...] = ()
    table: tuple[tuple[Any, ...], ...] = ()  # first row: the header
    text: str = ""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("" if value is None else str(value))


def _table(rows: Sequence[Sequence[Any]]) -> str:
    head, *body = rows
    out = ["<table><tr>" + "".join(f"<th>{_cell(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in body]
    return "".join(out) + "</table>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(path.name)}</figcaption></figure>'


def write_page(path: Path, title: str, sections: Sequence[Section]) -> None:
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for sec in sections:
        parts.append(f"<h2>{html.escape(sec.title)}</h2>")
        if sec.text:
            parts.append(f"<p>{html.escape(sec.text)}</p>")
        if sec.table:
            parts.append(_table(sec.table))
        parts.extend(_image(p) for p in sec.images)
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
