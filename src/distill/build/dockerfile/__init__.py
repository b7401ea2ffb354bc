"""Dockerfile front end: parser (text → AST), shell word expansion, typed instructions."""
