"""Predefined build arguments: platforms and the proxy family."""

from __future__ import annotations

from distill.platform import Platform

PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})
# predefined too, so never reported as not consumed: SOURCE_DATE_EPOCH is passed from the
# environment to every build (as buildx does), and only a stage that declares it sees it
PREDEFINED = PROXY_ARGS | {"SOURCE_DATE_EPOCH"}


def platform_args(target: Platform, build: Platform) -> dict[str, str]:
    return {
        "TARGETPLATFORM": str(target), "TARGETOS": target.os, "TARGETARCH": target.architecture,
        "TARGETVARIANT": target.variant or "",
        "BUILDPLATFORM": str(build), "BUILDOS": build.os, "BUILDARCH": build.architecture,
        "BUILDVARIANT": build.variant or "",
    }
