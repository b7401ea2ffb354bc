"""The OCI vocabulary every other part of image/ speaks: media types and image references."""
