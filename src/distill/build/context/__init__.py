"""The build context: .dockerignore, selecting COPY sources, content digests (stat-cached)."""
