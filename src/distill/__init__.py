"""distill: a daemonless multi-stage container image builder and analyser."""

__version__ = "0.1.0"
