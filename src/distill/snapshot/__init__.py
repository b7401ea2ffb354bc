"""Filesystem snapshots for build steps: layers unpacked once, stacked with overlayfs
(or copied, where overlayfs is missing); the upper dir of a step becomes its layer."""
