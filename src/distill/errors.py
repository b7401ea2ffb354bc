"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""


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


class RegistryError(DistillError):
    pass
