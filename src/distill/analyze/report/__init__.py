"""`distill report`: one self-contained HTML page about an image (page.py): the treemap of
its filesystem (treemap.py), its layers and waste, what the multi-stage build kept out,
whether it will start, and its Dockerfile's lint findings when the build's Dockerfile is
at hand."""

from __future__ import annotations

from distill.analyze.report.page import render
from distill.analyze.report.treemap import tree_data

__all__ = ["render", "tree_data"]
