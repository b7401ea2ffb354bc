"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""

LINE_MAX = 300


def printable(text: str) -> str:
    """`text` with its control characters (and names' undecodable bytes) escaped as Python
    writes them: a file name's newline, CR or ESC never reaches a terminal as itself."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in text)


def one_line(text: str, limit: int = LINE_MAX) -> str:
    """`text` as one printable line of at most `limit` characters: control characters
    escaped (a name's newline or ESC never reaches the terminal), the middle elided."""
    out = printable(text)
    if len(out) > limit:
        keep = limit - 5
        out = f"{out[:keep - keep // 3]} ... {out[-(keep // 3):]}"
    return out


class DistillError(Exception):
    """A failure caused by input or environment, reported without a traceback."""

    exit_code = 1


class InvalidReference(DistillError):
    pass


class InvalidDigest(DistillError):
    pass


class NotFound(DistillError):
    pass


class VerificationError(DistillError):
    """Content did not match the size or digest it claimed."""


class UnsafeLayer(DistillError):
    """A layer tar tried to act outside its root or is malformed."""


class Unreadable(DistillError):
    """Input that cannot be read at all (not JSON, nested past bounds, a truncated stream):
    exit 2, as `could not read`."""

    exit_code = 2


class RegistryError(DistillError):
    pass


class TransferError(RegistryError):
    """A blob's download stopped part way (the connection was lost): it may be fetched again."""


class DockerfileError(DistillError):
    """A Dockerfile problem, located: printed as `PATH:LINE: message`."""

    def __init__(self, message: str, line: int = 0, end_line: int = 0, path: str = "Dockerfile"):
        self.message, self.line, self.end_line, self.path = message, line, end_line or line, path
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    def at(self, path: str) -> "DockerfileError":
        return DockerfileError(self.message, self.line, self.end_line, path)


class Interrupted(KeyboardInterrupt):
    """A signal that ends the command (SIGTERM, SIGHUP, ...): it exits 128 + signum, as
    shells report a process that signal ended."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def interrupt(signum, frame):
    """A signal handler: the command unwinds (stopping what it started), then exits."""
    raise Interrupted(signum)
