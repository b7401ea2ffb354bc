"""EXPOSE's port specs read as docker reads them: `[[ip:]host:]port[-port][/proto]`, the
container side kept, a range opened into single ports, the protocol tcp by default."""

from __future__ import annotations

_PROTOCOLS = ("tcp", "udp", "sctp")


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"invalid port {text!r} in {spec!r}")
    return int(text)


def exposed_ports(spec: str) -> list[str]:
    """The `port/proto` keys of ExposedPorts that one spec names; ValueError if malformed."""
    container = spec.rsplit(":", 1)[-1]
    port, _, proto = container.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in _PROTOCOLS:
        raise ValueError(f"invalid protocol {proto!r} in {spec!r}")
    first, dash, last = port.partition("-")
    start = _port(first, spec)
    end = _port(last, spec) if dash else start
    if end < start:
        raise ValueError(f"invalid port range {port!r} in {spec!r}")
    return [f"{p}/{proto}" for p in range(start, end + 1)]
