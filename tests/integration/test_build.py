"""distill build: each instruction's semantics, checked on the resulting files and config."""

import os
import stat
import time
from pathlib import Path

import pytest

from distill.platform import host

from bed.images import copy_image
from buildtools import BUSYBOX, build, listing, tree, write_context
from clirun import distill
from distill.errors import DistillError, DockerfileError
from distill.image.store.images import lookup

FROM = f"FROM {BUSYBOX}"


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def cfg(image):
    return image.config["config"]


def test_run_copy_workdir_env_and_config(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"app/main.sh": "echo main\n", "app/lib/util.sh": "u\n"})
    result, desc, image = build(store, ctx, f"""{FROM}
ENV APP_HOME=/srv/app GREETING="hello world"
WORKDIR $APP_HOME
COPY app/ .
RUN echo "$GREETING" > greeting.txt && id -u > uid.txt
USER 1000:1000
EXPOSE 8080 53/udp
LABEL org.example.a=1 "b c"=d
VOLUME /data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --retries=2 CMD wget -q localhost
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "echo hi"]
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "srv/app/main.sh").read_text() == "echo main\n"
    assert (root / "srv/app/lib/util.sh").exists()
    assert (root / "srv/app/greeting.txt").read_text() == "hello world\n"
    assert (root / "srv/app/uid.txt").read_text() == "0\n"
    c = cfg(image)
    assert "APP_HOME=/srv/app" in c["Env"] and "GREETING=hello world" in c["Env"]
    assert c["WorkingDir"] == "/srv/app" and c["User"] == "1000:1000"
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert c["Labels"] == {"org.example.a": "1", "b c": "d"}
    assert c["Volumes"] == {"/data": {}} and c["StopSignal"] == "SIGINT"
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 30 * 10**9, "Retries": 2}
    assert c["Entrypoint"] == ["/bin/sh"] and c["Cmd"] == ["-c", "echo hi"]
    # history as BuildKit writes it, each entry with its Dockerfile line and stage
    hist = image.config["history"][1:]  # after the base image's one entry
    assert hist[0]["created_by"] == "ENV APP_HOME=/srv/app GREETING=hello world" and hist[0]["empty_layer"]
    assert hist[3]["created_by"].startswith("RUN /bin/sh -c echo") and "empty_layer" not in hist[3]
    assert hist[3]["comment"] == "distill.dockerfile.v0 stage=0 line=5"
    layered = [h for h in image.config["history"] if not h.get("empty_layer")]
    assert len(image.layers) == len(image.diff_ids) == len(layered)


def test_global_arg_stage_arg_and_build_arg(store, tmp_path):
    text = f"""ARG BASE={BUSYBOX}
ARG WHO=world
FROM $BASE
ARG WHO
ARG LOCAL=default
RUN echo "$WHO $LOCAL" > /args.txt
"""
    _, _, image = build(store, None, text)
    assert (tree(store, image, tmp_path / "a") / "args.txt").read_text() == "world default\n"
    _, _, image = build(store, None, text, build_args={"WHO": "cli", "LOCAL": "set"})
    assert (tree(store, image, tmp_path / "b") / "args.txt").read_text() == "cli set\n"
    assert not any(e.startswith("WHO=") for e in cfg(image)["Env"])  # ARGs are not kept in the image
    # as BuildKit writes it: the ARGs in scope before the command
    run = [h["created_by"] for h in image.config["history"] if h["created_by"].startswith("RUN")]
    assert run == ['RUN |2 WHO=cli LOCAL=set /bin/sh -c echo "$WHO $LOCAL" > /args.txt # buildkit']


def test_a_stage_built_on_a_stage_sees_its_arg_values(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM} AS base
ARG VERSION=1.2
FROM base
RUN echo "v$VERSION" > /v.txt
""")
    assert (tree(store, image, tmp_path / "out") / "v.txt").read_text() == "v1.2\n"
    assert not any(e.startswith("VERSION=") for e in cfg(image)["Env"])


def test_copy_from_by_name_and_index_and_unused_failing_stage(store, tmp_path):
    result, _, image = build(store, None, f"""{FROM} AS one
RUN echo one > /one.txt
{FROM} AS broken
RUN exit 1
{FROM} AS two
RUN echo two > /two.txt
FROM scratch
COPY --from=one /one.txt /
COPY --from=2 /two.txt /
""")
    root = tree(store, image, tmp_path / "out")
    assert sorted(os.listdir(root)) == ["one.txt", "two.txt"]
    assert "broken" not in result.stage_times  # never built
    assert set(result.stage_times) == {"one", "two", "3"}


def test_whiteouts_absent_from_final_tree(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM}
RUN mkdir -p /d/sub && echo x > /d/sub/f && echo y > /gone && echo z > /keep
RUN rm /gone && rm -rf /d && echo now-a-file > /d
""")
    root = tree(store, image, tmp_path / "out")
    assert not (root / "gone").exists() and (root / "keep").exists()
    assert (root / "d").is_file() and (root / "d").read_text() == "now-a-file\n"
    assert not any(".wh." in p for p in listing(root))


def test_chown_by_name_and_chmod(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f.txt": "x", "dir/g.txt": "y"})
    _, _, image = build(store, ctx, f"""{FROM}
COPY --chown=app:app f.txt /home/app/
COPY --chown=65534 --chmod=0750 dir /opt/dir/
COPY f.txt /root-owned.txt
""")
    root = tree(store, image, tmp_path / "out")
    st = os.stat(root / "home/app/f.txt")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert (os.stat(root / "home/app").st_uid, os.stat(root / "home/app").st_gid) == (1000, 1000)
    g = os.stat(root / "opt/dir/g.txt")
    assert (g.st_uid, g.st_gid, stat.S_IMODE(g.st_mode)) == (65534, 65534, 0o750)
    assert os.stat(root / "root-owned.txt").st_uid == 0


def test_run_gets_the_supplementary_groups_buildkit_gives(store, tmp_path):
    """RUN as a user name: the groups that list it, not its primary group (BuildKit's
    executor); `distill run` adds the primary group, as `docker run` does."""
    _, _, image = build(store, None, f"""{FROM}
RUN echo 'extra:x:1600:app' >> /etc/group
USER app
RUN grep ^Groups: /proc/self/status > /tmp/by-name
USER app:app
RUN grep ^Groups: /proc/self/status > /tmp/with-group
""", tags=["localhost/groups:1"])
    root = tree(store, image, tmp_path / "out")
    assert (root / "tmp/by-name").read_text().split() == ["Groups:", "1600"]
    assert (root / "tmp/with-group").read_text().split() == ["Groups:"]
    out = distill("run", "--rm", "-u", "app", "localhost/groups:1", "grep", "^Groups:", "/proc/self/status",
                  root=store.root).stdout
    assert out.split() == ["Groups:", "1000", "1600"]


def test_workdir_is_created_and_owned_per_user(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM}
USER app
WORKDIR /work/here
RUN touch mine
""")
    root = tree(store, image, tmp_path / "out")
    st = os.stat(root / "work/here")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    assert os.stat(root / "work/here/mine").st_uid == 1000


def test_onbuild_triggers_run_in_the_child(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"payload.txt": "from the child's context"})
    build(store, ctx, f"""{FROM}
ONBUILD COPY payload.txt /payload.txt
ONBUILD RUN echo triggered > /triggered.txt
""", tags=["localhost/onbuild-base:1"])
    base = lookup(store, "localhost/onbuild-base:1")
    assert cfg(base)["OnBuild"] == ["COPY payload.txt /payload.txt", "RUN echo triggered > /triggered.txt"]
    _, _, image = build(store, ctx, "FROM localhost/onbuild-base:1\nRUN cat /payload.txt > /seen.txt\n")
    root = tree(store, image, tmp_path / "out")
    assert (root / "seen.txt").read_text() == "from the child's context"
    assert (root / "triggered.txt").exists()
    assert not cfg(image).get("OnBuild")  # triggers fire once, they are not inherited


def test_onbuild_of_a_stage_runs_in_the_stage_built_on_it(store, tmp_path):
    """As current BuildKit does: the base stage's ONBUILD instructions run first in its
    child stage, and go no further."""
    result, _, image = build(store, None, f"""{FROM} AS base
ONBUILD RUN echo ran >> /trigger.txt
FROM base AS child
RUN cat /trigger.txt > /seen.txt
FROM child
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "seen.txt").read_text() == "ran\n"
    assert (root / "trigger.txt").read_text() == "ran\n"  # once: not again in the grandchild
    assert not cfg(image).get("OnBuild")
    _, _, base = build(store, None, f"{FROM} AS base\nONBUILD RUN echo ran >> /trigger.txt\n")
    assert cfg(base)["OnBuild"] == ["RUN echo ran >> /trigger.txt"]  # kept where it was written


def test_dockerignore_with_exceptions(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {
        ".dockerignore": "*.log\nsecret/\n!secret/public.txt\nbuild/**\n",
        "a.txt": "a", "debug.log": "no", "secret/key": "no", "secret/public.txt": "yes", "build/x/y": "no",
        "src/keep.log": "nested logs are not matched by *.log",
    })
    _, _, image = build(store, ctx, "FROM scratch\nCOPY . /ctx/\n")
    got = listing(tree(store, image, tmp_path / "out"))
    assert got == {"ctx", "ctx/a.txt", "ctx/secret", "ctx/secret/public.txt", "ctx/src", "ctx/src/keep.log",
                   "ctx/.dockerignore", "ctx/build"}


def test_dockerfile_specific_dockerignore(store, tmp_path):
    from distill import api
    from distill.build.solver.options import BuildOptions

    ctx = write_context(tmp_path / "ctx", {".dockerignore": "b.txt\n", "a.txt": "a", "b.txt": "b",
                                           "Special.Dockerfile.dockerignore": "a.txt\n"})
    text = "FROM scratch\nCOPY *.txt /out/\n"
    (ctx / "Special.Dockerfile").write_text(text)
    _, _, image = api.build(store, BuildOptions(text.encode(), str(ctx / "Special.Dockerfile"), ctx))
    assert listing(tree(store, image, tmp_path / "out")) == {"out", "out/b.txt"}


def test_context_symlink_out_of_context_is_refused(store, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    ctx = write_context(tmp_path / "ctx", {"ok.txt": "ok"})
    os.symlink(str(outside), ctx / "abs-link")
    os.symlink("../outside.txt", ctx / "rel-link")
    for name in ("abs-link", "rel-link"):
        with pytest.raises(DistillError, match="outside the build context"):
            build(store, ctx, f"FROM scratch\nCOPY {name} /x\n")
    # inside a copied directory, links are copied as links, never followed
    os.mkdir(ctx / "d")
    os.symlink("../outside.txt", ctx / "d/link")
    _, _, image = build(store, ctx, "FROM scratch\nCOPY d /d/\n")
    assert os.readlink(tree(store, image, tmp_path / "out") / "d/link") == "../outside.txt"


def test_copy_destination_rules(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a", "b.txt": "b", "dir/c.txt": "c"})
    _, _, image = build(store, ctx, f"""{FROM}
COPY a.txt /file-named
COPY a.txt /into/
COPY *.txt /many/
COPY dir /contents/
COPY a.txt /etc
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "file-named").read_text() == "a"
    assert (root / "into/a.txt").exists()
    assert {p.name for p in (root / "many").iterdir()} == {"a.txt", "b.txt"}
    assert (root / "contents/c.txt").exists() and not (root / "contents/dir").exists()
    assert (root / "etc/a.txt").exists()  # an existing directory receives the file
    with pytest.raises(DistillError, match="must be a directory"):
        build(store, ctx, "FROM scratch\nCOPY a.txt b.txt /notadir\n")
    with pytest.raises(DistillError, match="nope.txt: not found in build context"):
        build(store, ctx, "FROM scratch\nCOPY nope.txt /x\n")


@pytest.mark.parametrize("op", ["COPY", "ADD"])  # a layer written directly, and through the overlay
def test_copy_dates_the_directories_it_makes_and_writes_into(store, tmp_path, monkeypatch, op):
    """As BuildKit's copy leaves them: a directory made or written into is dated by the
    build, one above them keeps its date, a file keeps its own; SOURCE_DATE_EPOCH clamps."""
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a", "old/usr/sbin/.keep": "", "old/root/.keep": ""})
    os.utime(ctx / "a.txt", (500, 500))
    for d in ("old/usr/sbin", "old/usr", "old/root"):
        os.utime(ctx / d, (100, 100))
    text = f"""{FROM}
COPY old/ /
{op} a.txt /new/deep/
{op} a.txt /root/
{op} a.txt /usr/sbin/
"""
    made_or_written = ("/new", "/new/deep", "/root", "/usr/sbin")

    def dates(out: str) -> dict[str, int]:
        root = tree(store, image, tmp_path / out)
        return {d: int(os.lstat(f"{root}{d}").st_mtime) for d in (*made_or_written, "/usr", "/new/deep/a.txt")}

    start = int(time.time())
    _, _, image = build(store, ctx, text)
    got, end = dates("out"), time.time()
    assert all(start <= got[d] <= end for d in made_or_written), got
    assert got["/usr"] == 100 and got["/new/deep/a.txt"] == 500

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")
    _, _, image = build(store, ctx, text, no_cache=True)
    got = dates("clamped")
    assert {got[d] for d in made_or_written} == {1000}, got
    assert got["/usr"] == 100 and got["/new/deep/a.txt"] == 500


def test_run_resolves_its_own_hostname(store, tmp_path):
    _, _, image = build(store, None, f'{FROM}\nRUN grep -w "$(hostname)" /etc/hosts > /found\n')
    assert (tree(store, image, tmp_path / "out") / "found").read_text().split()[0] == "127.0.0.1"


def test_a_wildcard_may_match_nothing(store, tmp_path):
    """As in BuildKit: the wildcard adds nothing (no destination made); a plain name must exist."""
    ctx = write_context(tmp_path / "ctx", {"a.txt": "a"})
    _, _, image = build(store, ctx, f"""{FROM} AS other
{FROM}
COPY *.nomatch /none/
COPY a.txt *.nomatch /some/
COPY --from=other /nowhere* /none-from/
""")
    root = tree(store, image, tmp_path / "out")
    assert not (root / "none").exists() and not (root / "none-from").exists()
    assert [p.name for p in (root / "some").iterdir()] == ["a.txt"]
    with pytest.raises(DistillError, match="b.txt: not found in build context"):
        build(store, ctx, f"{FROM}\nCOPY *.nomatch b.txt /x/\n")


def test_copy_heredoc_and_run_heredoc(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM}
ARG NAME=distill
COPY <<EOF /etc/greeting
hello $NAME
EOF
RUN <<EOT
set -e
echo scripted > /script.txt
EOT
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "etc/greeting").read_text() == "hello distill\n"
    assert (root / "script.txt").read_text() == "scripted\n"


def test_add_extracts_local_archives(store, tmp_path):
    import tarfile

    ctx = write_context(tmp_path / "ctx", {})
    src = write_context(tmp_path / "src", {"pkg/x.txt": "x"})
    with tarfile.open(ctx / "pkg.tar.gz", "w:gz") as t:
        t.add(src / "pkg", arcname="pkg")
    _, _, image = build(store, ctx, "FROM scratch\nADD pkg.tar.gz /opt/\n")
    root = tree(store, image, tmp_path / "out")
    assert (root / "opt/pkg/x.txt").read_text() == "x"


def test_failing_run_reports_line_exit_code_and_output(store):
    with pytest.raises(DistillError) as e:
        build(store, None, f"{FROM}\n\nRUN echo about to fail && exit 3\n")
    msg = str(e.value)
    assert "Dockerfile:3:" in msg and "exit code 3" in msg and "about to fail" in msg


def test_shell_instruction_and_exec_form(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM}
SHELL ["/bin/sh", "-ec"]
RUN echo shell > /s.txt
RUN ["/bin/sh", "-c", "echo exec > /e.txt"]
CMD echo shell-form
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "s.txt").read_text() == "shell\n" and (root / "e.txt").read_text() == "exec\n"
    assert cfg(image)["Cmd"] == ["/bin/sh", "-ec", "echo shell-form"]


def test_cache_hits_misses_and_no_cache(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"a.txt": "1"})
    text = f"{FROM}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n"
    first, desc1, _ = build(store, ctx, text)
    assert (first.executed, first.cached) == (2, 0)
    again, desc2, _ = build(store, ctx, text)
    assert (again.executed, again.cached) == (0, 2) and desc2 == desc1
    os.utime(ctx / "a.txt", (1, 1))  # a new mtime alone is no change
    assert build(store, ctx, text)[0].cached == 2
    (ctx / "a.txt").write_text("2")
    changed, desc3, _ = build(store, ctx, text)
    assert (changed.executed, changed.cached) == (2, 0) and desc3 != desc1
    forced, _, _ = build(store, ctx, text, no_cache=True)
    assert forced.executed == 2


@pytest.mark.parametrize("junk", [b"", b"\0" * 64, b"[1, 2]", b'{"layer": {"digest": "sha256:' + b"0" * 64 + b'"}}'])
def test_an_unreadable_step_record_is_a_miss(store, tmp_path, junk):
    """Records are not fsynced: what a power loss may leave of one (nothing, zeros, a
    half-written file, one naming a blob that never landed) must read as a miss."""
    ctx = write_context(tmp_path / "ctx", {"a.txt": "1"})
    text = f"{FROM}\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\n"
    build(store, ctx, text)
    records = sorted(Path(store.path("cache", "steps")).glob("*.json"))
    assert len(records) == 2
    for r in records:
        r.write_bytes(junk)
    again = build(store, ctx, text)[0]
    assert (again.executed, again.cached) == (2, 0)
    assert build(store, ctx, text)[0].cached == 2  # written anew


def test_unchanged_context_is_keyed_from_stat_facts_alone(tmp_path):
    from distill.build.context.ignore import Matcher
    from distill.build.context.source import SourceTree, StatCache
    from distill.build.solver.copy import content_key, select

    ctx = write_context(tmp_path / "ctx", {"a.txt": "1", "d/b.txt": "22"})
    table = tmp_path / "cache" / "ctx.json"

    def key():
        tree = SourceTree(str(ctx), Matcher.from_text(""), is_context=True, stat_cache=StatCache(str(table)))
        k = content_key(tree, select(tree, ["."], "COPY"), None)
        tree.cache.save()
        return k, tree.cache

    first, _ = key()
    again, cache = key()
    assert again == first and cache._entries is None  # the per-file table was not even read
    os.utime(ctx / "a.txt", (5, 5))
    touched, cache = key()
    assert touched == first and cache._entries is not None  # looked at again, same content
    (ctx / "d" / "b.txt").write_text("33")
    assert key()[0] != first


def test_stat_facts_past_int64_skip_the_memo_not_the_key(tmp_path, monkeypatch):
    from distill.build.context.ignore import Matcher
    from distill.build.context.source import SourceTree, StatCache
    from distill.build.solver import copy as copying

    ctx = write_context(tmp_path / "ctx", {"a.txt": "1"})

    def key():
        tree = SourceTree(str(ctx), Matcher.from_text(""), is_context=True,
                          stat_cache=StatCache(str(tmp_path / "cache" / "ctx.json")))
        return copying.content_key(tree, copying.select(tree, ["."], "COPY"), None), tree.cache

    plain, _ = key()
    monkeypatch.setattr(copying, "stat_facts", lambda st: (st.st_size, st.st_mtime_ns, 2**64 - 1, st.st_mode))
    huge, cache = key()
    assert huge == plain and not cache.keys  # the same content key, and no memo entry for it


def test_unchanged_artifact_of_a_rebuilt_stage_still_hits(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"noise.txt": "1"})
    text = f"""{FROM} AS builder
COPY noise.txt /noise.txt
RUN echo artifact > /artifact
{FROM}
COPY --from=builder /artifact /artifact
RUN cat /artifact
"""
    build(store, ctx, text)
    (ctx / "noise.txt").write_text("2")  # the builder reruns, its artifact is the same
    result, _, _ = build(store, ctx, text)
    assert result.executed == 2 and result.cached == 2


def test_no_op_rebuild_writes_nothing(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"a.txt": "1"})
    text = f"{FROM}\nCOPY a.txt /a.txt\nRUN true\nENV X=1\n"
    build(store, ctx, text, tags=["localhost/noop:1"])

    def snapshot():
        out = {}
        for dirpath, _, files in os.walk(store.root):
            for f in files:
                p = os.path.join(dirpath, f)
                out[p] = os.stat(p).st_mtime_ns
        return out

    before = snapshot()
    result, _, _ = build(store, ctx, text, tags=["localhost/noop:1"])
    assert result.executed == 0
    after = snapshot()
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed <= {store.path("locks", n) for n in os.listdir(store.path("locks"))}


@pytest.fixture
def one_cpu():
    """This thread (and the build threads and containers it starts) on one CPU."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    yield
    os.sched_setaffinity(0, before)


def two_stages(run: str) -> str:
    return f"""{FROM} AS a
RUN {run} && echo a > /a
{FROM} AS b
RUN {run} && echo b > /b
FROM scratch
COPY --from=a /a /a
COPY --from=b /b /b
"""


def overlap(result) -> bool:
    (a0, a1), (b0, b1) = result.stage_times["a"], result.stage_times["b"]
    return a0 < b1 and b0 < a1


SLEEP = "sleep 1.5"
BUSY = "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"


def test_independent_stages_run_at_the_same_time(store):
    result, _, _ = build(store, None, two_stages(SLEEP), jobs=2)
    assert overlap(result), result.stage_times


def test_waiting_stages_share_a_cpu_by_default(store, one_cpu):
    # the cap is the CPU count (1 here), but a sleeping stage leaves the CPU idle
    result, _, _ = build(store, None, two_stages(SLEEP))
    assert overlap(result), result.stage_times


def test_busy_stages_take_turns_on_a_cpu_by_default(store, one_cpu):
    result, _, _ = build(store, None, two_stages(BUSY))
    assert not overlap(result), result.stage_times


def test_jobs_caps_stages_even_when_idle(store):
    result, _, _ = build(store, None, two_stages(SLEEP), jobs=1)
    assert not overlap(result), result.stage_times


def steps_finished(stderr: str) -> list[str]:
    """Titles of the steps in the order they finished (progress --plain)."""
    titles, done = {}, []
    for line in stderr.splitlines():
        n, _, rest = line.partition(" ")
        if n not in titles:
            titles[n] = rest
        elif rest.startswith("DONE"):
            done.append(titles[n])
    return done


@pytest.mark.parametrize("jobs", [None, 1])
def test_a_stage_waits_for_another_only_at_the_step_that_reads_it(store, jobs):
    """As BuildKit schedules: the final stage's first steps run while the builder is still
    at work, and its COPY --from waits for the builder; with one turn, the waiting stage
    lends it to the builder (no deadlock)."""
    text = (f"{FROM} AS builder\nRUN sleep 1.5 && echo built > /artifact\n"
            f"{FROM}\nRUN echo early > /early\nCOPY --from=builder /artifact /artifact\nRUN cat /artifact\n")
    args = ["build", "--progress", "plain", "-f", "-"] + (["--jobs", str(jobs)] if jobs else [])
    r = distill(*args, root=store.root, input=text)
    done = steps_finished(r.stderr)
    early, slow = "[stage-1 2/4] RUN echo early > /early", "[builder 2/2] RUN sleep 1.5 && echo built > /artifact"
    if jobs is None:  # turns to spare: the final stage starts at once
        assert done.index(early) < done.index(slow), done
    assert done.index(slow) < done.index("[stage-1 3/4] COPY --from=builder /artifact /artifact"), done


def test_network_none(store, tmp_path):
    _, _, image = build(store, None, f"{FROM}\nRUN --network=none ls /sys/class/net > /nets\n")
    assert (tree(store, image, tmp_path / "out") / "nets").read_text().split() == ["lo"]


def test_cache_mount_persists_between_builds(store, tmp_path):
    text = f"{FROM}\nRUN --mount=type=cache,target=/cache echo run >> /cache/log && wc -l < /cache/log > /count\n"
    build(store, None, text)
    _, _, image = build(store, None, text.replace("wc -l", "wc  -l"))  # another key: runs again
    root = tree(store, image, tmp_path / "out")
    assert (root / "count").read_text().strip() == "2"
    assert not (root / "cache" / "log").exists()


def test_secret_mount(store, tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cret")
    _, _, image = build(store, None, f"{FROM}\nRUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /len\n",
                        secrets={"tok": {"src": str(secret)}})
    root = tree(store, image, tmp_path / "out")
    assert (root / "len").read_text().strip() == "6" and not (root / "run/secrets").exists()


def test_runtime_stubs_do_not_leak_into_layers(store, tmp_path):
    _, _, image = build(store, None, f"FROM scratch\nCOPY --from={BUSYBOX} /bin/busybox /bin/sh\n"
                                     'RUN ["/bin/sh", "-c", "echo ok > /ok"]\n')
    assert listing(tree(store, image, tmp_path / "out")) == {"bin", "bin/sh", "ok"}


def test_a_base_of_another_platform_than_asked_is_used_with_buildkits_warning(store):
    result, _, image = build(store, None, f"{FROM}\nENV A=1\n", platform="linux/s390x")
    assert [w for w in result.plan.warnings if w.startswith("InvalidBaseImagePlatform: ")] == [
        f"InvalidBaseImagePlatform: base image {FROM.split()[1]} is for linux/{host().architecture}, not linux/s390x "
        "as this build asks"]
    assert image.config["architecture"] == "s390x"


def test_bad_dockerfile_error_has_its_line(store):
    with pytest.raises(DockerfileError) as e:
        build(store, None, f"{FROM}\nCOPY --bogus a b\n")
    assert e.value.line == 2


def test_run_that_changes_nothing_makes_no_layer(store, tmp_path):
    result, _, image = build(store, None, f"{FROM}\nRUN true\nRUN chmod 700 /etc\n")
    hist = image.config["history"]
    assert hist[-2]["created_by"].startswith("RUN") and hist[-2].get("empty_layer") is True
    assert "empty_layer" not in hist[-1]  # a real change to /etc is kept
    assert stat.S_IMODE(os.stat(tree(store, image, tmp_path / "out") / "etc").st_mode) == 0o700


def test_untagged_build_is_found_by_id_and_pruned(store, tmp_path):
    from distill import api

    _, desc, image = build(store, None, f"{FROM}\nRUN echo dangling > /d\n")
    short = image.config_digest[7:19]
    assert api.inspect(store, short)["Digest"] == desc["digest"]
    assert any(r.repository == "<none>" and r.id == image.config_digest for r in api.images(store))
    api.prune(store)
    with pytest.raises(DistillError, match="no such image"):
        api.inspect(store, short)
    # the build cache survives a plain prune: the same build is all cached
    assert build(store, None, f"{FROM}\nRUN echo dangling > /d\n")[0].executed == 0
    api.prune(store, cache=True)
    assert build(store, None, f"{FROM}\nRUN echo dangling > /d\n")[0].executed == 1


def test_prune_removes_snapshots_nothing_uses(store, tmp_path):
    from distill import api

    from distill.image.layers.contents import contents_path, layer_contents
    from distill.image.layers.toc import layer_toc, toc_path

    _, _, kept = build(store, None, f"{FROM}\nRUN echo a > /a\n", tags=["localhost/keep:1"])
    _, _, dropped = build(store, None, f"{FROM}\nRUN echo b > /b\n")
    for image in (kept, dropped):  # their tables of contents and content indexes made
        layer_contents(store, image.layers[-1], image.diff_ids[-1], layer_toc(store, image.layers[-1],
                                                                               image.diff_ids[-1]))
    snaps = Path(store.path("snapshots"))
    before = {p.name for p in snaps.iterdir() if p.is_dir()}
    api.prune(store, cache=True)
    after = {p.name for p in snaps.iterdir() if p.is_dir()}
    assert after < before and len(before - after) == 1  # only the unnamed image's layer went
    # and its table of contents with it; the kept image's (base layer too) stay
    assert not os.path.exists(toc_path(store, dropped.diff_ids[-1]))
    assert not os.path.exists(contents_path(store, dropped.diff_ids[-1]))
    assert all(os.path.exists(toc_path(store, d)) for d in kept.diff_ids)
    assert os.path.exists(contents_path(store, kept.diff_ids[-1]))
    assert build(store, None, f"{FROM}\nRUN echo a > /a\n", tags=["localhost/keep:1"])[0].executed == 1


def test_prune_keep_storage_keeps_the_newest_cache_layers(store, tmp_path):
    """prune --keep-storage: the oldest cache records go until the cache's own layers fit;
    a named image's layers neither count nor go."""
    from distill import api
    from distill.units import parse_size

    ctx = write_context(tmp_path / "ctx", {})
    text = f"{FROM}\nCOPY big.bin /big.bin\n"
    layers = []
    for i in range(4):
        (ctx / "big.bin").write_bytes(bytes([i]) * (1 << 20))
        _, _, image = build(store, ctx, text, tags=["localhost/named:1"] if i == 0 else ())
        layers.append(image.layers[-1]["digest"])
    api.prune(store, keep_storage=parse_size("2.5MB"))  # room for two 1 MiB layers
    assert [store.has_blob(d) for d in layers] == [True, False, True, True]  # 0 is named
    assert build(store, ctx, text)[0].executed == 0  # the newest is still cached
    (ctx / "big.bin").write_bytes(bytes([1]) * (1 << 20))
    assert build(store, ctx, text)[0].executed == 1  # the oldest unnamed one was dropped
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("lots")
    assert parse_size("10GB") == 10 << 30 and parse_size("512") == 512 and parse_size("1.5k") == 1536


def test_builds_keep_the_cache_within_its_bound(store, tmp_path, monkeypatch):
    """After a build that made layers, the layers only the cache holds are kept within
    $DISTILL_CACHE_KEEP, oldest records first; images, named or not, keep theirs."""
    monkeypatch.setenv("DISTILL_CACHE_KEEP", "2.5MB")
    ctx = write_context(tmp_path / "ctx", {})
    text = f"{FROM}\nCOPY big.bin /big.bin\n"
    (ctx / "big.bin").write_bytes(b"u" * (1 << 20))
    unnamed = build(store, ctx, text)[2].layers[-1]["digest"]
    layers = []
    for i in range(4):  # the tag moves on: each earlier image's layer is the cache's alone
        (ctx / "big.bin").write_bytes(bytes([i]) * (1 << 20))
        layers.append(build(store, ctx, text, tags=["localhost/app:1"])[2].layers[-1]["digest"])
    assert store.has_blob(unnamed)
    assert [store.has_blob(d) for d in layers] == [False, True, True, True]
    (ctx / "big.bin").write_bytes(bytes([2]) * (1 << 20))
    assert build(store, ctx, text, tags=["localhost/app:1"])[0].executed == 0  # kept, still cached
    monkeypatch.setenv("DISTILL_CACHE_KEEP", "1TB")
    (ctx / "big.bin").write_bytes(bytes([0]) * (1 << 20))
    assert build(store, ctx, text, tags=["localhost/app:1"])[0].executed == 1  # the dropped one runs again


@pytest.fixture
def http_file(tmp_path):
    """A file served over HTTP on loopback, for ADD URL tests."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "www"
    root.mkdir()
    (root / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tool.sh", root / "tool.sh"
    server.shutdown()


def test_add_url_with_checksum(store, tmp_path, http_file):
    import hashlib

    url, path = http_file
    good = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    _, _, image = build(store, None, f"FROM scratch\nADD --checksum={good} {url} /opt/\nADD {url} /renamed.sh\n")
    root = tree(store, image, tmp_path / "out")
    assert (root / "opt/tool.sh").read_bytes() == path.read_bytes()
    assert stat.S_IMODE(os.stat(root / "opt/tool.sh").st_mode) == 0o600
    assert (root / "renamed.sh").exists()
    with pytest.raises(DistillError, match="checksum mismatch"):
        build(store, None, f"FROM scratch\nADD --checksum=sha256:{'0' * 64} {url} /x\n")


def test_labels_option_and_pull_from_a_registry(store, registry):
    from distill import api

    api.push(store, BUSYBOX, f"{registry.host}/base/busybox:1")
    _, _, image = build(store, None, f"FROM {registry.host}/base/busybox:1\nLABEL from=dockerfile\n",
                        labels={"org.opencontainers.image.version": "1.2"}, pull=True)
    assert cfg(image)["Labels"] == {"from": "dockerfile", "org.opencontainers.image.version": "1.2"}
    assert lookup(store, f"{registry.host}/base/busybox:1")  # pulled into the store


def test_ssh_mount_exposes_the_agent_socket(store, tmp_path):
    import socket

    sock_path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    server.listen(1)
    try:
        _, _, image = build(store, None, f"{FROM}\nRUN --mount=type=ssh test -S $SSH_AUTH_SOCK && echo $SSH_AUTH_SOCK > /sock\n",
                            ssh={"default": str(sock_path)})
        assert (tree(store, image, tmp_path / "out") / "sock").read_text() == "/run/buildkit/ssh_agent.0\n"
        with pytest.raises(DistillError, match="ssh agent default is required"):
            build(store, None, f"{FROM}\nRUN --mount=type=ssh,required=true true\n")
    finally:
        server.close()


def test_bind_mount_of_the_context_is_filtered_and_rw_is_discarded(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {".dockerignore": "secret.txt\n", "a.txt": "a", "secret.txt": "no",
                                           "sub/b.txt": "b"})
    _, _, image = build(store, ctx, f"""{FROM}
RUN --mount=type=bind,target=/src ls -A /src > /seen && cat /src/sub/b.txt >> /seen
RUN --mount=type=bind,target=/src,rw echo scribble > /src/a.txt && cat /src/a.txt > /wrote
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "seen").read_text() == ".dockerignore\na.txt\nsub\nb"
    assert (root / "wrote").read_text() == "scribble\n"
    assert (ctx / "a.txt").read_text() == "a"  # the context itself is never written


def test_symlinks_planted_by_an_image_never_lead_copies_out(store, tmp_path):
    """A base image whose /app points at the host's /etc (absolute) or climbs out with ..:
    COPY and WORKDIR must write inside the image, never on the host."""
    canary = tmp_path / "host-canary"
    canary.mkdir()
    (canary / "keep").write_text("host")
    ctx = write_context(tmp_path / "ctx", {"payload.txt": "image data"})
    build(store, ctx, f"{FROM}\nRUN ln -s {canary} /abs && ln -s ../../../../../../../../{canary} /rel\n",
          tags=["localhost/evil-base:1"])
    _, _, image = build(store, ctx, """FROM localhost/evil-base:1
COPY payload.txt /abs/
COPY payload.txt /rel/
WORKDIR /abs/newdir
RUN echo ran > written-by-run
""")
    assert sorted(os.listdir(canary)) == ["keep"] and (canary / "keep").read_text() == "host"
    root = tree(store, image, tmp_path / "out")
    inside = root / str(canary).lstrip("/")
    assert (inside / "payload.txt").read_text() == "image data"
    assert (inside / "newdir" / "written-by-run").read_text() == "ran\n"


def test_identical_layers_twice_in_one_image(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"f": "same"})
    _, _, image = build(store, ctx, f"{FROM}\nCOPY f /f\nRUN rm /f\nCOPY f /f\nRUN cat /f > /seen\n")
    assert image.layers[-4]["digest"] == image.layers[-2]["digest"]  # the same layer, twice
    assert (tree(store, image, tmp_path / "out") / "seen").read_text() == "same"


def test_cmd_is_inherited_and_reset_by_entrypoint(store, tmp_path):
    build(store, None, f"{FROM}\nCMD [\"echo\", \"from-base\"]\n", tags=["localhost/cmd-base:1"])
    _, _, inherits = build(store, None, "FROM localhost/cmd-base:1\nENV X=1\n")
    assert cfg(inherits)["Cmd"] == ["echo", "from-base"]
    _, _, reset = build(store, None, "FROM localhost/cmd-base:1\nENTRYPOINT [\"/bin/true\"]\n")
    assert cfg(reset)["Entrypoint"] == ["/bin/true"] and cfg(reset)["Cmd"] is None
    _, _, both = build(store, None, "FROM localhost/cmd-base:1\nCMD [\"x\"]\nENTRYPOINT [\"/bin/true\"]\n")
    assert cfg(both)["Cmd"] == ["x"]  # set in this stage: kept


def test_copy_from_resolves_symlinks_inside_the_stage(store, tmp_path):
    _, _, image = build(store, None, f"""{FROM} AS src
RUN mkdir -p /real/dir && echo found > /real/dir/f && ln -s /real /abs && ln -s ../../../../real /rel
FROM scratch
COPY --from=src /abs/dir/f /via-abs
COPY --from=src /rel/dir/f /via-rel
""")
    root = tree(store, image, tmp_path / "out")
    assert (root / "via-abs").read_text() == "found\n" and (root / "via-rel").read_text() == "found\n"


@pytest.mark.parametrize("mode", ["w:bz2", "w:xz", "w"])
def test_add_extracts_bzip2_xz_and_plain_tars(store, tmp_path, mode):
    import tarfile

    ctx = write_context(tmp_path / "ctx", {})
    src = write_context(tmp_path / "src", {"pkg/x.txt": "x"})
    with tarfile.open(ctx / "pkg.tar", mode) as t:
        t.add(src / "pkg", arcname="pkg")
    _, _, image = build(store, ctx, "FROM scratch\nADD pkg.tar /opt/\n")
    assert (tree(store, image, tmp_path / "out") / "opt/pkg/x.txt").read_text() == "x"


def test_copy_link_makes_an_independent_layer(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"app/run.sh": "echo run\n", "f.txt": "f"})
    _, _, image = build(store, ctx, f"{FROM}\nCOPY --link --chown=1000:1000 app/ /opt/app/\nCOPY --link f.txt /f.txt\n")
    root = tree(store, image, tmp_path / "out")
    assert (root / "opt/app/run.sh").read_text() == "echo run\n"
    assert os.stat(root / "opt/app/run.sh").st_uid == 1000 and os.stat(root / "opt/app").st_uid == 1000
    assert (root / "f.txt").read_text() == "f" and (root / "bin/busybox").exists()
    with pytest.raises(DistillError, match="use numbers"):
        build(store, ctx, f"{FROM}\nCOPY --link --chown=app f.txt /g\n")


def test_bare_run_and_cmd_as_buildkit_writes_them(store):
    _, _, image = build(store, None, f"{FROM}\nRUN\nCMD\n")
    assert cfg(image)["Cmd"] == ["/bin/sh", "-c", ""]
    assert [h["created_by"] for h in image.config["history"][-2:]] == ["RUN /bin/sh -c  # buildkit",
                                                                      'CMD ["/bin/sh" "-c" ""]']


def test_a_stage_that_runs_nothing_never_unpacks_its_base(store, tmp_path):
    """WORKDIR and COPY read the base from its table of contents; the image is the same
    as through a mount (buildtools.build compares it with a real unpack). A stage with a
    RUN unpacks its base at its first step, as the RUN needs it (the other tests)."""
    from distill.image.layers.unpack import is_unpacked

    ctx = write_context(tmp_path / "ctx", {"app.py": "print(1)\n", "lib/util.py": "u\n"})
    base = lookup(store, BUSYBOX).diff_ids[0]
    _, _, image = build(store, ctx, f"{FROM}\nUSER app\nWORKDIR /srv/app\nCOPY app.py lib/ ./\n")
    assert not is_unpacked(store, base)
    root = tree(store, image, tmp_path / "out")
    st = os.stat(root / "srv/app")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o755)  # made for USER app
    assert (root / "srv/app/app.py").read_text() == "print(1)\n" and (root / "srv/app/util.py").exists()
    # an edit: the copy runs again, and will at every edit, so the base is unpacked once
    (ctx / "app.py").write_text("print(2)\n")
    _, _, image = build(store, ctx, f"{FROM}\nUSER app\nWORKDIR /srv/app\nCOPY app.py lib/ ./\n")
    assert is_unpacked(store, base)
    assert (tree(store, image, tmp_path / "edited") / "srv/app/app.py").read_text() == "print(2)\n"


def test_copy_from_an_image_that_is_not_unpacked_reads_only_what_it_names(tmp_path):
    """COPY --from an image whose layers were never unpacked writes only the named paths
    from the layers (solver/extract.py): the image it makes is the one a mount gives,
    and the source image stays packed."""
    from distill.image.layers.unpack import is_unpacked
    from distill.image.layers.unpack import unpacked as unpack_layer
    from distill.image.store import Store
    from imagetools import image_of
    from tartools import build as tar_of, entry

    source = [
        tar_of(entry("usr", "dir"), entry("usr/lib", "dir", mode=0o750, uid=3, mtime=1_500_000_000),
               entry("usr/lib/libx.so", data=b"ELF x", mode=0o755, uid=1, gid=2, mtime=1_400_000_000),
               entry("usr/lib/sub", "dir"), entry("usr/lib/sub/deep.txt", data=b"deep"),
               entry("usr/lib/rel", "symlink", linkname="libx.so"),
               entry("lib", "symlink", linkname="usr/lib"), entry("usr/bin", "dir"),
               entry("usr/bin/tool", data=b"#!/bin/sh\n", mode=0o755), entry("usr/bin/tail", data=b"t"),
               entry("usr/bin/other", data=b"o"), entry("link-to-file", "symlink", linkname="/usr/bin/tool"),
               entry("usr/bin/tool2", "hardlink", linkname="usr/bin/tool")),
        tar_of(entry("usr/bin/.wh.tail")),
    ]
    text = ("FROM scratch\nCOPY --from=localhost/src:1 /lib/libx.so /out/\nCOPY --from=localhost/src:1 /usr/lib /out/lib/\n"
            "COPY --from=localhost/src:1 /usr/bin/t* /out/bin/\nCOPY --from=localhost/src:1 /link-to-file /out/followed\n")
    trees = {}
    for how in ("mounted", "extracted"):
        store = Store(tmp_path / how / "store")
        src = image_of(store, source, compress=True, name="localhost/src:1")
        if how == "mounted":
            for d, i in zip(src.layers, src.diff_ids):
                unpack_layer(store, d, i)
        _, _, image = build(store, None, text)
        if how == "extracted":
            assert not any(is_unpacked(store, i) for i in src.diff_ids)
        trees[how] = {}
        root = tree(store, image, tmp_path / how / "out")
        for dirpath, dirs, files in os.walk(root):
            for name in dirs + files:
                p = os.path.join(dirpath, name)
                st = os.lstat(p)
                data = open(p, "rb").read() if stat.S_ISREG(st.st_mode) else os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
                made_now = stat.S_ISDIR(st.st_mode) and name in ("out", "bin", "lib")  # dirs the copy makes
                mtime = None if made_now else st.st_mtime
                trees[how][os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_gid, mtime, data)
    assert trees["extracted"] == trees["mounted"]
    out = trees["extracted"]
    assert out["out/libx.so"][4] == b"ELF x" and out["out/followed"][4] == b"#!/bin/sh\n"
    assert out["out/lib/rel"][4] == "libx.so" and out["out/lib/sub/deep.txt"][4] == b"deep"
    assert sorted(k for k in out if k.startswith("out/bin/")) == ["out/bin/tool", "out/bin/tool2"]


def test_a_build_parses_its_dockerfile_once(store, tmp_path):
    """`distill build`, its lint warnings included, parses the Dockerfile once: the solver
    plans from that tree (twice, the second time with ONBUILD triggers inserted in a
    copy), and lint and the bases' facts read the same tree."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": f"FROM {BUSYBOX} AS base\nONBUILD RUN echo triggered\n"
                                                         "FROM base\nRUN echo hi\nCMD echo done\n"})
    counter = tmp_path / "parses"
    code = ("import sys\nimport distill.build.dockerfile.parser as parser\nreal = parser._parse\n"
            f"def counted(*a):\n    open({str(counter)!r}, 'a').write('x')\n    return real(*a)\n"
            "parser._parse = counted\nfrom distill.cli.main import main\nmain(sys.argv[1:])\n")
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", code, "--root", str(store.root), "build", "--progress", "plain",
                        str(ctx)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "triggered" in r.stderr  # the base stage's ONBUILD fired in the stage built on it
    assert "lint warning" in r.stderr  # and lint ran on the build's stages (CMD in shell form)
    assert counter.read_text() == "x"


def test_a_base_nobody_has_names_its_line_and_what_was_tried(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {})
    with pytest.raises(DistillError) as e:
        build(store, ctx, f"{FROM}\nRUN true\nFROM localhost:1/debian/nosuch:1\nRUN true\n")
    assert str(e.value).startswith(f"{ctx / 'Dockerfile'}:3: base image localhost:1/debian/nosuch:1: not in the "
                                   "store, and its registry did not give it: ")


def test_a_misspelt_stage_in_copy_from_says_which_stage_was_meant(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {})
    with pytest.raises(DistillError) as e:
        build(store, ctx, f"{FROM} AS build\nRUN echo x > /x\n{FROM}\nCOPY --from=biuld /x /x\n")
    assert str(e.value).startswith(f"{ctx / 'Dockerfile'}:4: no stage named biuld; did you mean build?")
