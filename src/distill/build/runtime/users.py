"""USER and --chown names resolved in an image's own /etc/passwd and /etc/group."""

from __future__ import annotations

from distill.errors import DistillError
from distill.record import Record


class Identity(Record):
    uid: int
    gid: int
    home: str = "/"
    member_gids: tuple[int, ...] = ()  # groups listing the user by name (not for name:group)

    @property
    def run_gids(self) -> list[int]:
        """Supplementary groups as `docker run` sets them: the primary group and the user's."""
        return sorted({self.gid, *self.member_gids})


def _table(text: str | None) -> list[list[str]]:
    return [l.split(":") for l in (text or "").splitlines() if l and not l.startswith("#")]


def _group_id(name: str, group_text: str | None) -> int:
    if name.isdigit():
        return int(name)
    for row in _table(group_text):
        if len(row) >= 3 and row[0] == name and row[2].isdigit():
            return int(row[2])
    raise DistillError(f"unable to find group {name}: no matching entries in group file")


def resolve(user: str, passwd_text: str | None, group_text: str | None) -> Identity:
    """`name`, `uid`, `name:group`, `uid:gid` → numeric identity, as docker resolves USER."""
    user = user or "0"
    name, _, group = user.partition(":")
    rows = _table(passwd_text)
    uid = gid = None
    home = "/"
    if name.isdigit():
        uid = int(name)
        for row in rows:
            if len(row) >= 6 and row[2] == name:
                gid = int(row[3]) if row[3].isdigit() else 0
                home = row[5] or "/"
                break
        if gid is None:
            gid = 0 if not group else None
    else:
        for row in rows:
            if len(row) >= 6 and row[0] == name and row[2].isdigit():
                uid, gid, home = int(row[2]), int(row[3]) if row[3].isdigit() else 0, row[5] or "/"
                break
        if uid is None:
            raise DistillError(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        gid = _group_id(group, group_text)
    extra = []
    if not group and not name.isdigit():
        for row in _table(group_text):
            if len(row) >= 4 and name in row[3].split(",") and row[2].isdigit():
                extra.append(int(row[2]))
    return Identity(uid, gid if gid is not None else 0, home, tuple(extra))


def chown_ids(spec: str, passwd_text: str | None, group_text: str | None) -> tuple[int, int]:
    """--chown=user[:group]: a user alone gives its primary group... as BuildKit does, a
    numeric user alone gives gid = uid."""
    name, _, group = spec.partition(":")
    if name.isdigit():
        uid = int(name)
        gid = _group_id(group, group_text) if group else uid
        return uid, gid
    ident = resolve(name, passwd_text, None)
    gid = _group_id(group, group_text) if group else ident.gid
    return ident.uid, gid
