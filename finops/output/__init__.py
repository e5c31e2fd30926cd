"""Renderers that turn library results into text formats (JSON, CSV, Markdown). No terminal code here."""
