"""Executed notebooks as pages a browser opens without a kernel."""

from __future__ import annotations

from pathlib import Path


def render_html(notebook: Path) -> Path:
    """The executed notebook as a self-contained HTML page beside it (figures embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    path = notebook.with_suffix(".html")
    partial = path.with_suffix(".html.partial")
    partial.write_text(body)
    partial.replace(path)
    return path
