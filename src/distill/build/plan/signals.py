"""STOPSIGNAL's value checked as docker checks it: a non-zero number, or a Linux signal
name with or without its SIG prefix, in any case."""

from __future__ import annotations

_NAMES = frozenset(
    "ABRT ALRM BUS CHLD CLD CONT FPE HUP ILL INT IO IOT KILL PIPE POLL PROF PWR QUIT SEGV "
    "STKFLT STOP SYS TERM TRAP TSTP TTIN TTOU URG USR1 USR2 VTALRM WINCH XCPU XFSZ RTMIN RTMAX".split()
    + [f"RTMIN+{n}" for n in range(1, 16)] + [f"RTMAX-{n}" for n in range(1, 15)])


def valid_signal(text: str) -> bool:
    number = text[1:] if text[:1] in "+-" else text
    if number.isdigit():
        return int(text) != 0
    name = text.upper()
    return name.removeprefix("SIG") in _NAMES
