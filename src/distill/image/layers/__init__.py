"""Layer tars: create from a tree, apply safely, compress and hash in one pass."""
