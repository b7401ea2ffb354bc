"""The chroot isolation's process (chroot.py): python -m distill.build.runtime.chroot_exec
ROOT CWD UID GID GIDS -- ARGS... chroots, becomes the step's user and runs ARGS there
with the environment it was given. A process of its own, not a preexec hook: the
builder has threads."""

import os
import sys


def main(argv: list[str]) -> None:
    root, cwd, uid, gid, groups, sep, *args = argv
    if sep != "--" or not args:
        sys.exit("usage: chroot_exec ROOT CWD UID GID GIDS -- ARGS...")
    os.chroot(root)
    os.chdir("/")
    try:
        os.chdir(cwd)
    except OSError:
        pass  # the step made its workdir; one it removed leaves it at /
    os.setgroups([int(g) for g in groups.split(",") if g])
    os.setgid(int(gid))
    os.setuid(int(uid))
    try:
        os.execvpe(args[0], args, os.environ)
    except OSError as e:
        sys.stderr.write(f"{args[0]}: {e.strerror}\n")
        sys.exit(127)


if __name__ == "__main__":
    main(sys.argv[1:])
