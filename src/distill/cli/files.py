"""Commands that read an image's files: ls, export."""

from __future__ import annotations

import sys

from distill.errors import printable
from distill.cli.commands import arg, command, print_json_items, reach_of, store_of, INSECURE, PLATFORM, STAGE


@command(
    arg("image"),
    arg("path", nargs="?", default="/"),
    arg("-R", "--recursive", action="store_true", help="Everything below PATH."),
    arg("-l", dest="long", action="store_true", help="Mode, owner, size, layer and who wrote each entry."),
    arg("--json", action="store_true", help="One JSON array of entries."),
    STAGE,
    INSECURE,
    PLATFORM,
)
def ls(a):
    """List files inside an image, read from its layers (nothing is unpacked). IMAGE: in the
    store, an archive (a file, oci-archive:PATH, docker-archive:PATH) or in a registry
    (docker://REF)."""
    from distill.api import ls as list_files

    rows = list_files(store_of(a), a.image, a.path, a.recursive, a.stage, reach_of(a))
    if a.json:
        keys = ("path", "type", "mode", "uid", "gid", "size", "target", "layer", "stage", "line")
        print_json_items(({k: r[k] for k in keys} for r in rows), 1)
        return
    out = sys.stdout
    for r in rows:
        name = r["path"] if a.recursive or a.path.rstrip("/") == r["path"] else r["path"].rpartition("/")[2]
        name = printable(name)
        if r["target"]:
            target = printable(r["target"])
            name += f" -> {target}" if r["type"] == "symlink" else f" link to {target}"
        if not a.long:
            out.write(name + "\n")
            continue
        who = f"{r['stage']}:{r['line']}" if r["stage"] is not None else printable((r["created_by"] or "")[:24])
        layer = "-" if r["layer"] is None else str(r["layer"])
        out.write(f"{_filemode(r['type'], r['mode'])} {r['uid']}/{r['gid']} {r['size']:>10} {layer:>3} "
                  f"{who:<24} {name}\n")


def _filemode(kind: str, mode: int) -> str:
    letter = {"dir": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"}.get(kind, "-")
    bits = "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    special = list(bits)
    for bit, at, on in ((0o4000, 2, "s"), (0o2000, 5, "s"), (0o1000, 8, "t")):
        if mode & bit:
            special[at] = on if special[at] == "x" else on.upper()
    return letter + "".join(special)


@command(
    arg("image"),
    arg("-o", "--output", required=True, help="The tar file ('-' for stdout)."),
    STAGE,
    INSECURE,
    PLATFORM,
)
def export(a):
    """Write an image's flattened filesystem as one tar (as crane export)."""
    from distill.api import export as do_export

    do_export(store_of(a), a.image, a.output, a.stage, reach_of(a))
