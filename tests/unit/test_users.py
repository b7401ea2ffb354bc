"""USER and --chown resolved in an image's own /etc/passwd and /etc/group."""

import pytest

from distill.errors import DistillError
from distill.build.runtime.users import chown_ids, resolve

PASSWD = "root:x:0:0:root:/root:/bin/sh\nusr:x:1500:1500::/home/usr:/bin/sh\n"
GROUP = "root:x:0:\ngrp:x:1500:\ng2:x:1600:usr,other\ng3:x:1700:other\n"


@pytest.mark.parametrize("user, uid, gid, members, run_gids", [
    ("usr", 1500, 1500, (1600,), [1500, 1600]),      # a name: its groups by membership
    ("usr:root", 1500, 0, (), [0]),                   # a group given: no membership groups
    ("usr:1700", 1500, 1700, (), [1700]),
    ("1500", 1500, 1500, (), [1500]),                 # a number found in passwd: its primary group
    ("4000", 4000, 0, (), [0]),                       # a number not found: group root
    ("4000:4001", 4000, 4001, (), [4001]),
    ("", 0, 0, (), [0]),
])
def test_resolve_as_docker_does(user, uid, gid, members, run_gids):
    ident = resolve(user, PASSWD, GROUP)
    assert (ident.uid, ident.gid, ident.member_gids) == (uid, gid, members)  # RUN's, as BuildKit sets them
    assert ident.run_gids == run_gids  # `docker run`'s: the primary group too
    assert ident.home == ("/home/usr" if uid == 1500 else "/root" if uid == 0 else "/")


@pytest.mark.parametrize("user, message", [("nobody2", "unable to find user nobody2"),
                                           ("usr:nogroup", "unable to find group nogroup")])
def test_unknown_names_are_errors(user, message):
    with pytest.raises(DistillError, match=message):
        resolve(user, PASSWD, GROUP)


def test_chown_ids():
    assert chown_ids("usr", PASSWD, GROUP) == (1500, 1500)
    assert chown_ids("usr:g2", PASSWD, GROUP) == (1500, 1600)
    assert chown_ids("42", PASSWD, GROUP) == (42, 42)  # a number alone: gid = uid, as BuildKit does
    assert chown_ids("42:grp", PASSWD, GROUP) == (42, 1500)
