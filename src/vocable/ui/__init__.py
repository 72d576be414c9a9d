"""The web UI: a Gradio app mounted in the FastAPI app at ``/ui`` (see docs/ui.md)."""
