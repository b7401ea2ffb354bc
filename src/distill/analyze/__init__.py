"""The analyser: findings about a Dockerfile (lint/) or an image (check/, size, compare,
packages, sbom, vuln/, report/), each read through imagefs, never by running the image."""
