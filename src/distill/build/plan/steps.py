"""A step's arguments after expansion: one type per instruction, so the solver reads
`step.args.dest`, and a misspelt name is an AttributeError, not a silent None.

`to_json()` gives the plain form `distill parse --json` prints and metadata steps' cache
keys hash."""

from __future__ import annotations

from distill.build.dockerfile.mounts import Mount
from distill.record import Record


def _plain(value):
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


class Args(Record):
    _omit_none = frozenset()  # fields left out of to_json() while None (not annotated: not a field)

    def to_json(self) -> dict:
        d = self.__dict__
        return {n.rstrip("_"): _plain(d[n]) for n in self._fields if not (d[n] is None and n in self._omit_none)}


class Source(Args):
    """What a --from names: an earlier stage (by index) or an image (a full reference)."""

    stage: int | None = None
    image: str | None = None

    def to_json(self) -> dict:
        return {"stage": self.stage} if self.stage is not None else {"image": self.image}


class ArgArgs(Args):
    values: tuple[tuple[str, str | None], ...] = ()  # name, value (None: declared, unset)

    def to_json(self) -> dict:
        return dict(self.values)


class KeyValueArgs(Args):  # ENV, LABEL
    pairs: tuple[tuple[str, str], ...] = ()


class WorkdirArgs(Args):
    path: str  # absolute, clean


class UserArgs(Args):
    user: str


class StopSignalArgs(Args):
    signal: str


class ExposeArgs(Args):
    ports: tuple[str, ...]  # port/proto, ranges opened


class VolumeArgs(Args):
    paths: tuple[str, ...]


class ShellArgs(Args):
    shell: tuple[str, ...]


class CommandArgs(Args):  # CMD, ENTRYPOINT
    shell_form: bool
    args: tuple[str, ...]


class HealthcheckArgs(Args):
    test: tuple[str, ...] | None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None


class OnbuildArgs(Args):
    trigger: str


class MaintainerArgs(Args):
    name: str


class CopyArgs(Args):
    sources: tuple[str, ...]
    dest: str
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    exclude: tuple[str, ...] = ()
    from_: Source | None = None
    _omit_none = frozenset({"from_"})


class AddArgs(CopyArgs):
    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None


class MountArgs(Mount, Args):
    """A RUN --mount (dockerfile/mounts.py) with its words expanded and `from_` resolved to
    a Source."""

    _omit_none = frozenset({"target", "source", "from_", "id", "readonly", "sharing", "mode", "uid", "gid", "size",
                            "env"})

    def to_json(self) -> dict:
        out = super().to_json()
        del out["raw"]
        return out


class HeredocArgs(Args):
    name: str
    expand: bool
    chomp: bool


class RunArgs(Args):
    shell_form: bool
    args: tuple[str, ...]
    mounts: tuple[MountArgs, ...] = ()
    network: str | None = None
    security: str | None = None
    heredocs: tuple[HeredocArgs, ...] = ()
    build_args: tuple[tuple[str, str], ...] = ()  # the ARGs in scope, as RUN's history lists them

    def to_json(self) -> dict:
        out = super().to_json()
        if not self.heredocs:
            del out["heredocs"]
        return out
