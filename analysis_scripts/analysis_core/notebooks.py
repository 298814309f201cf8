"""Executed notebooks as pages a browser opens without a kernel."""

from __future__ import annotations

from pathlib import Path

from analysis_core.files import write_text

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def render_html(notebook: Path) -> Path:
    """The executed notebook as a self-contained HTML page beside it (figures embedded). A widget
    cannot run without a kernel: where its output also has a static ``text/html`` form, the page
    shows that instead of an empty widget area."""
    import nbformat
    from nbconvert import HTMLExporter

    node = nbformat.read(notebook, as_version=4)
    for cell in node.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and "text/html" in data:
                del data[WIDGET_VIEW]
    body, _ = HTMLExporter().from_notebook_node(node)
    path = notebook.with_suffix(".html")
    write_text(path, body)
    return path
