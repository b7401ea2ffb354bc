"""The build cache: a step's key (content, never time) → the layer it made."""
