"""Images: references, the OCI store, layers, registries, archives, and imagefs, the
read-only view of any image's files that every analysis and the builder's COPY read."""
