"""The executed notebook as HTML: a widget with a static form shows that form."""

import nbformat

from analysis_core.notebooks import WIDGET_VIEW, render_html


def test_a_widget_with_a_static_form_shows_it_and_one_without_keeps_its_view(tmp_path):
    view = {"version_major": 2, "version_minor": 0, "model_id": "abc"}
    cell = nbformat.v4.new_code_cell(
        "panel",
        outputs=[
            nbformat.v4.new_output(
                "display_data",
                {WIDGET_VIEW: view, "text/plain": "Panel()", "text/html": "<p>first view</p>"},
            ),
            nbformat.v4.new_output(
                "display_data", {WIDGET_VIEW: {**view, "model_id": "def"}, "text/plain": "Slider()"}
            ),
        ],
    )
    notebook = tmp_path / "report.ipynb"
    model = {
        "model_name": "VBoxModel",
        "model_module": "@jupyter-widgets/controls",
        "model_module_version": "2.0.0",
        "state": {},
    }
    state = {
        "state": {"abc": model, "def": model},
        "version_major": 2,
        "version_minor": 0,
    }  # as nbclient saves it
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[cell], metadata={"widgets": {"application/vnd.jupyter.widget-state+json": state}}
        ),
        notebook,
    )
    page = render_html(notebook).read_text()
    assert "<p>first view</p>" in page
    assert '"model_id": "abc"' not in page and '"model_id": "def"' in page
    assert (
        nbformat.read(notebook, as_version=4).cells[0].outputs[0]["data"][WIDGET_VIEW]
    )  # the notebook keeps it
