"""The builder: resolves bases, runs stages (independent ones at once), executes steps on
cache misses, and returns the final image's state."""

from __future__ import annotations

import json
import os
import posixpath
import stat
import threading
import time
from contextlib import ExitStack, contextmanager

from .. import platform as platforms
from ..cache.steps import StepCache, step_key
from ..config import DEFAULT_PATH, now_rfc3339
from ..context.ignore import Matcher
from ..context.source import SourceTree, StatCache
from ..digest import Sha256
from ..dockerfile import instructions as ins
from ..dockerfile.parser import node_from_line, parse
from ..dockerfile.shell import Lexer
from ..errors import DistillError, DockerfileError
from ..files import read_bytes
from ..fsroot import RootView, read_text, resolve
from ..image import Image, lookup
from ..plan import Plan, make_plan
from ..plan.args import PROXY_ARGS
from ..plan.model import IMAGE, SCRATCH, STAGE, Stage, Step, progress_labels, progress_title
from ..progress import Progress
from ..record import Record, fresh
from ..snapshot import snapshotter
from ..threads import Worker
from . import copy as copying
from .slots import Slots, cpu_count
from .state import StageState

TYPE_CHECKING = False  # not typing's: importing typing costs ~4 ms of a start
if TYPE_CHECKING:
    from ..layers.blob import Layer

COMMENT = "distill.dockerfile.v0"
RUNTIME_STUBS = ("/proc", "/dev", "/sys", "/etc/hosts", "/etc/resolv.conf")


_EMPTY = object()  # a step that makes no layer


class BuildError(DistillError):
    pass


class BuildOptions(Record, frozen=False):
    dockerfile: bytes
    dockerfile_path: str = "Dockerfile"
    context: str | None = None
    build_args: dict = fresh(dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str = "default"
    labels: dict = fresh(dict)
    platform: str | None = None
    insecure: tuple = ()
    jobs: int | None = None  # None: the CPU count, elastic (solver.slots)
    secrets: dict = fresh(dict)   # id → {"src": path} or {"env": NAME}
    ssh: dict = fresh(dict)       # id → agent socket path (--ssh default=PATH)
    progress: Progress | None = None


class BuildResult(Record, frozen=False):
    state: StageState
    plan: Plan
    stage_times: dict[str, tuple[float, float]]
    executed: int
    cached: int


def _comment(stage: Stage, line: int) -> str:
    return f"{COMMENT} stage={stage.ref} line={line}"


def _go_list(items) -> str:
    return "[" + " ".join(json.dumps(i) for i in items) + "]"


class Builder:
    def __init__(self, store, options: BuildOptions):
        self.store = store
        self.o = options
        self.progress = options.progress or Progress("quiet")
        self.cache = StepCache(store, enabled=not options.no_cache)
        self._snap = None
        self.platform = platforms.parse(options.platform) if options.platform else platforms.host()
        if not platforms.is_native(self.platform):
            raise DistillError(f"--platform {self.platform}: only the native platform ({platforms.host()}) can be built")
        self.images: dict[str, Image] = {}
        self.states: dict[int, Worker] = {}
        self.timings: dict[str, tuple[float, float]] = {}
        self.counts = {"executed": 0, "cached": 0}
        self.lock = threading.Lock()
        self.cancelled = threading.Event()
        self.escape = "\\"  # the Dockerfile's escape character, once parsed
        self.context_tree = self._context_tree()

    # ---- setup ------------------------------------------------------------------
    def _context_tree(self) -> SourceTree | None:
        ctx = self.o.context
        if ctx is None:
            return None
        ignore_text = ""
        named = f"{self.o.dockerfile_path}.dockerignore"
        for candidate in (named, os.path.join(ctx, ".dockerignore")):
            if self.o.dockerfile_path != "-" and os.path.isfile(candidate):
                ignore_text = read_bytes(candidate).decode(errors="replace")
                break
        ctx = os.path.realpath(ctx)
        key = Sha256(ctx.encode()).hexdigest()[:32]
        cache = StatCache(self.store.path("cache", "context", f"{key}.json"))
        return SourceTree(ctx, Matcher.from_text(ignore_text), is_context=True, stat_cache=cache)

    def _image(self, ref: str) -> Image:
        with self.lock:
            if ref in self.images:
                return self.images[ref]
        img = None
        if not self.o.pull:
            try:
                img = lookup(self.store, ref, self.platform)
            except DistillError:
                img = None
        if img is None:
            from .. import api

            step = self.progress.step(f"[internal] pull {ref}")
            try:
                api.pull(self.store, ref, str(self.platform), self.o.insecure)
            except DistillError as e:
                hint = ""
                if ref.startswith("docker.io/") and "ConnectError" in str(e):
                    hint = " (Docker Hub unreachable? `distill bootstrap` makes Debian bases offline)"
                raise DistillError(f"base image {ref}: {e}{hint}") from None
            step.done()
            img = lookup(self.store, ref, self.platform)
        with self.lock:
            self.images[ref] = img
        return img

    def _plan(self) -> Plan:
        result = parse(self.o.dockerfile, self.o.dockerfile_path)
        self.escape = result.escape
        args = dict(self.o.build_args)
        first = make_plan(result, args, self.o.target, self.platform, platforms.host(), path=self.o.dockerfile_path)
        needed = set()
        for i in first.build_order:
            s = first.stages[i]
            if s.base_kind == IMAGE:
                needed.add(s.base)
            for st in s.steps:
                needed.update(st.image_deps)
        for ref in sorted(needed):
            self._image(ref)
        # ONBUILD triggers run first in the stages built on the image or stage that holds
        # them: an image's from its config, a stage's from its own ONBUILD instructions
        froms = [n for n in result.nodes if n.value == "from"]
        for i in first.build_order:
            s = first.stages[i]
            if s.base_kind == IMAGE:
                triggers = (self.images[s.base].config.get("config") or {}).get("OnBuild") or []
            elif s.base_kind == STAGE:
                triggers = [st.instruction.trigger for st in first.stages[s.base_stage].steps
                            if isinstance(st.instruction, ins.Onbuild)]
            else:
                continue
            if triggers:
                at = result.nodes.index(froms[i]) + 1
                for t in reversed(triggers):
                    node = node_from_line(t, result.escape)
                    node.start_line = node.end_line = froms[i].start_line
                    result.nodes.insert(at, node)
        plan = make_plan(result, args, self.o.target, self.platform, platforms.host(), base_env=self._base_env,
                         path=self.o.dockerfile_path)
        return plan

    def _base_env(self, ref: str):
        img = self.images.get(ref)
        return (img.config.get("config") or {}).get("Env") if img else None

    # ---- the walk ------------------------------------------------------------------
    def build(self) -> BuildResult:
        plan = self._plan()
        self.slots = Slots(self.o.jobs or cpu_count(), elastic=not self.o.jobs)
        ended = threading.Event()
        try:
            # held before started, inside the try: an interrupt that lands between two
            # starts must still wait for the stages already running (one may be mounting).
            # Dependencies come first, so no started stage waits for one never started.
            for i in plan.build_order:
                self.states[i] = w = Worker(self._run_stage, plan, plan.stages[i], ended=ended)
                w.start()
            pending = list(self.states.values())
            while pending:
                # short waits: a signal may go to a worker thread, and only the main
                # thread runs Python's handlers, between bytecodes
                ended.wait(0.2)
                ended.clear()
                for t in [t for t in pending if t.done.is_set()]:
                    pending.remove(t)
                    t.result()  # a failed stage raises here
            final = self.states[plan.target].result()
        except BaseException:
            # an interrupt or a failed stage: stop the others, and wait for them
            self.cancelled.set()  # running containers see it and are killed
            for t in self.states.values():
                t.wait()
            raise
        if self.context_tree:
            self.context_tree.cache.save()
        return BuildResult(final, plan, self.timings, self.counts["executed"], self.counts["cached"])

    def _stage_state(self, stage_index: int) -> StageState:
        return self.states[stage_index].result()

    def _source_state(self, source: dict) -> StageState:
        """What a `from` names (COPY --from, RUN --mount from=): a stage or an image."""
        if "stage" in source:
            return self._stage_state(source["stage"])
        return StageState.from_image(self._image(source["image"]), self.platform)

    def _run_stage(self, plan: Plan, stage: Stage) -> StageState:
        for d in stage.deps:
            self._stage_state(d)  # wait for what this stage reads before its turn
        if not self.slots.acquire(self.cancelled):
            raise DistillError("build cancelled")
        try:
            return self._run_stage_steps(plan, stage)
        finally:
            self.slots.release()

    def _run_stage_steps(self, plan: Plan, stage: Stage) -> StageState:
        start = time.time()
        if stage.base_kind == SCRATCH:
            state = StageState.scratch(self.platform)
        elif stage.base_kind == STAGE:
            state = self._stage_state(stage.base_stage).clone()
        else:
            img = self._image(stage.base)
            state = StageState.from_image(img, self.platform)
        state.config.pop("OnBuild", None)  # the triggers run in this stage, not handed on
        from_label, labels = progress_labels(stage, alone=len(plan.stages) == 1)
        self.progress.message(" ".join(p for p in ("#0", from_label, "FROM", stage.base) if p))
        for step, label in zip(stage.steps, labels):
            if self.cancelled.is_set():
                raise DistillError("build cancelled")
            try:
                self._step(plan, stage, step, state, label)
            except (DockerfileError, BuildError):  # located already
                raise
            except DistillError as e:
                raise BuildError(f"{self.o.dockerfile_path}:{step.line}: {e}") from None
        self.timings[stage.ref] = (start, time.time())
        return state

    # ---- steps ---------------------------------------------------------------------
    def _step(self, plan: Plan, stage: Stage, step: Step, state: StageState, label: str | None) -> None:
        """One step; `label` prefixes its progress line (BuildKit's `[stage i/n]`)."""
        instr = step.instruction
        a = step.args
        comment = _comment(stage, step.line)
        if isinstance(instr, ins.Run):
            return self._run(plan, stage, step, state, label)
        if isinstance(instr, ins.Copy):
            return self._copy(plan, stage, step, state, label)
        if isinstance(instr, ins.Workdir):
            return self._workdir(stage, step, state, label)
        created_by = None
        c = state.config
        if isinstance(instr, ins.Env):
            for k, v in a["pairs"]:
                state.set_env(k, v)
            created_by = "ENV " + " ".join(f"{k}={v}" for k, v in a["pairs"])
        elif isinstance(instr, ins.Label):
            c["Labels"] = {**(c.get("Labels") or {}), **{k: v for k, v in a["pairs"]}}
            created_by = "LABEL " + " ".join(f"{k}={v}" for k, v in a["pairs"])
        elif isinstance(instr, ins.Arg):
            created_by = "ARG " + " ".join(k if v is None else f"{k}={v}" for k, v in a.items())
        elif isinstance(instr, ins.Expose):
            c["ExposedPorts"] = {**(c.get("ExposedPorts") or {}), **{p: {} for p in a["ports"]}}
            created_by = "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(a["ports"])) + "]"  # as Go prints a map
        elif isinstance(instr, ins.Volume):
            c["Volumes"] = {**(c.get("Volumes") or {}), **{p: {} for p in a["paths"]}}
            created_by = "VOLUME [" + " ".join(a["paths"]) + "]"
        elif isinstance(instr, ins.User):
            c["User"] = a["user"]
            created_by = f"USER {a['user']}"
        elif isinstance(instr, ins.StopSignal):
            c["StopSignal"] = a["signal"]
            created_by = f"STOPSIGNAL {a['signal']}"
        elif isinstance(instr, (ins.Cmd, ins.Entrypoint)):
            argv = list(instr.args) if not instr.shell_form else state.shell + [instr.text]
            if isinstance(instr, ins.Cmd):
                c["Cmd"] = argv
                state.cmd_set_here = True
                created_by = f"CMD {_go_list(argv)}"
            else:
                c["Entrypoint"] = argv
                if not state.cmd_set_here:
                    c["Cmd"] = None
                created_by = f"ENTRYPOINT {_go_list(argv)}"
        elif isinstance(instr, ins.Shell):
            c["Shell"] = list(instr.shell)
            created_by = f"SHELL {_go_list(instr.shell)}"
        elif isinstance(instr, ins.Healthcheck):
            if instr.test is None:
                c["Healthcheck"] = {"Test": ["NONE"]}
            else:
                hc = {"Test": list(instr.test)}
                for key, val in (("Interval", instr.interval), ("Timeout", instr.timeout),
                                 ("StartPeriod", instr.start_period), ("StartInterval", instr.start_interval),
                                 ("Retries", instr.retries)):
                    if val is not None:
                        hc[key] = val
                c["Healthcheck"] = hc
            created_by = f"HEALTHCHECK {_go_list(c['Healthcheck']['Test'])}"
        elif isinstance(instr, ins.Onbuild):
            c["OnBuild"] = (c.get("OnBuild") or []) + [instr.trigger]
            created_by = f"ONBUILD {instr.trigger}"
        elif isinstance(instr, ins.Maintainer):
            state.author = instr.name
            created_by = f"MAINTAINER {instr.name}"
        state.key = step_key(state.key, instr.keyword, a)
        state.add_history(created_by, comment, empty_layer=True)

    def _finish_layer(self, state: StageState, key: str, layer: "Layer | None", created_by: str, comment: str,
                      progress, created: str | None = None) -> None:
        record = {"layer": layer.descriptor if layer else None, "diff_id": layer.diff_id if layer else None,
                  "created": created or now_rfc3339()}
        self.cache.put(key, record)
        self._apply_record(state, key, record, created_by, comment)
        progress.done()
        with self.lock:
            self.counts["executed"] += 1

    def _apply_record(self, state: StageState, key: str, record: dict, created_by: str, comment: str) -> None:
        if record["layer"]:
            state.layers.append(record["layer"])
            state.diff_ids.append(record["diff_id"])
        state.add_history(created_by, comment, empty_layer=not record["layer"], created=record["created"])
        state.key = key

    def _cached(self, state: StageState, key: str, created_by: str, comment: str, progress) -> bool:
        record = self.cache.get(key)
        if record is None:
            return False
        self._apply_record(state, key, record, created_by, comment)
        progress.cached()
        with self.lock:
            self.counts["cached"] += 1
        return True

    @property
    def snap(self):
        if self._snap is None:  # probing overlayfs costs a mount: only when a step needs one
            self._snap = snapshotter(self.store)
        return self._snap

    @contextmanager
    def _mounted(self, state: StageState):
        with self.snap.mount(list(zip(state.layers, state.diff_ids))) as m:
            yield m

    def _commit_upper(self, upper: str) -> "Layer | None":
        from ..layers.blob import write_layer
        from ..snapshot.unpack import adopt

        if not os.listdir(upper):
            return None
        layer = write_layer(self.store, upper, overlay_upper=True)
        adopt(self.store, layer.diff_id, upper)  # the upper dir is the layer in overlay form already
        return layer

    # ---- RUN ----------------------------------------------------------------------------
    def _run(self, plan: Plan, stage: Stage, step: Step, state: StageState, label: str) -> None:
        instr: ins.Run = step.instruction
        env = step.env_map
        for k in PROXY_ARGS:
            if k in self.o.build_args and k not in env:
                env[k] = self.o.build_args[k]
        env.setdefault("PATH", DEFAULT_PATH.split("=", 1)[1])
        if instr.shell_form:
            argv = state.shell + [_heredoc_script(instr)]
        else:
            argv = list(instr.args)
        network = instr.network or self.o.network
        network = "host" if network in ("default", "host") else "none"
        mounts_key = []
        for m in step.args["mounts"]:
            mk = dict(m)
            if "from" in m:
                mk["from"] = self._source_state(m["from"]).key
            elif m["type"] == "bind" and self.context_tree:
                tree = self.context_tree
                mk["context"] = copying.content_key(tree, copying.select(tree, [m.get("source") or "."], "RUN --mount"),
                                                    None)
            mounts_key.append(mk)
        payload = {"argv": argv, "env": sorted(f"{k}={v}" for k, v in env.items()), "user": state.user,
                   "workdir": state.workdir, "network": network, "security": instr.security, "mounts": mounts_key}
        key = step_key(state.key, "RUN", payload)
        shown = [f"{k}={v}" for k, v in step.args["build_args"]]
        created_by = f"RUN {' '.join(([f'|{len(shown)}'] + shown if shown else []) + argv)} # buildkit"
        comment = _comment(stage, step.line)
        progress = self.progress.step(f"{label} {progress_title(instr, step.env_map, self.escape)}")
        if self._cached(state, key, created_by, comment, progress):
            return
        # only a step that runs needs the runtime: a cached rebuild never imports it
        from ..runtime import runc
        from ..runtime.spec import ProcessSpec
        from ..runtime.users import resolve as resolve_user

        with ExitStack() as stack:
            m = stack.enter_context(self._mounted(state))
            root = m.merged
            ident = resolve_user(state.user, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))
            env.setdefault("HOME", ident.home)
            _ensure_dir(root, state.workdir, ident.uid, ident.gid)
            binds, tmpfs, stubs_check = self._run_mounts(stack, step, state, env, root)
            work = self._scratch_dir(stack, "run-")
            binds += runc.network_files(work)
            missing = [p for p in list(RUNTIME_STUBS) + stubs_check if not os.path.lexists(resolve(root, p)[0])]
            parents = _parent_metadata(root, missing)
            spec = ProcessSpec(argv, [f"{k}={v}" for k, v in env.items()], state.workdir, ident.uid, ident.gid,
                               list(ident.member_gids), network, binds=binds, tmpfs=tmpfs,  # as BuildKit
                               insecure=instr.security == "insecure")
            code = runc.run(m.merged, spec, work, progress.output, cancel=self.cancelled)
            _remove_stubs(root, m.upper, missing, parents)
            if code != 0:
                tail = "\n".join(progress.tail()[-10:])
                progress.error(f"exit code {code}")
                raise BuildError(f"{self.o.dockerfile_path}:{step.line}: RUN {instr.text or _go_list(instr.args)} "
                                 f"did not complete successfully: exit code {code}" + (f"\n{tail}" if tail else ""))
            layer = self._commit_upper(m.changes())
        self._finish_layer(state, key, layer, created_by, comment, progress)

    def _run_mounts(self, stack: ExitStack, step: Step, state: StageState, env: dict, root: str):
        from ..runtime.spec import BindMount

        binds, tmpfs, targets = [], [], []
        for m in step.args["mounts"]:
            kind = m["type"]
            target = m.get("target") or (f"/run/secrets/{m.get('id')}" if kind == "secret" else None)
            if target and not target.startswith("/"):
                target = posixpath.join(state.workdir, target)
            if kind == "tmpfs":
                tmpfs.append(target)
            elif kind == "cache":
                cid = m.get("id") or target
                d = self.store.path("cache", "mounts", Sha256(cid.encode()).hexdigest()[:32])
                if not os.path.exists(d):
                    os.makedirs(d)
                    os.chmod(d, m.get("mode", 0o755))
                    os.chown(d, m.get("uid", 0), m.get("gid", 0))
                if m.get("sharing", "shared") == "locked":
                    from ..store.lock import locked

                    stack.enter_context(locked(d + ".lock"))
                binds.append(BindMount(d, target, readonly=bool(m.get("readonly"))))
            elif kind == "bind":
                src = m.get("source", "")
                if "from" in m:
                    om = stack.enter_context(self._mounted(self._source_state(m["from"])))
                    host = resolve(om.merged, src)[0]
                else:
                    if self.context_tree is None:
                        raise DistillError("RUN --mount type=bind needs a build context")
                    view = self._scratch_dir(stack, "ctxview-")
                    host = _context_view(self.context_tree, src or ".", os.path.join(view, "v"),
                                         writable=m.get("readonly") is False)
                binds.append(BindMount(host, target, readonly=not (m.get("readonly") is False)))
            elif kind == "secret":
                sid = m.get("id") or posixpath.basename(target)
                secret = self.o.secrets.get(sid)
                if secret is None:
                    if m.get("required"):
                        raise DistillError(f"secret {sid} is required but was not given (--secret id={sid},src=…)")
                    continue
                data = read_bytes(secret["src"]) if "src" in secret else os.environb.get(
                    secret["env"].encode(), b"")
                if m.get("env"):
                    env[m["env"]] = data.decode("utf-8", "replace")
                if m.get("target") or not m.get("env"):
                    f = os.path.join(self._scratch_dir(stack, "secret-"), "s")
                    with open(f, "wb") as out:
                        out.write(data)
                    os.chmod(f, m.get("mode", 0o400))
                    binds.append(BindMount(f, target))
            elif kind == "ssh":
                sid = m.get("id") or "default"
                sock = self.o.ssh.get(sid)
                if not sock:
                    if m.get("required"):
                        raise DistillError(f"ssh agent {sid} is required but was not given (--ssh {sid})")
                    continue
                target = m.get("target") or f"/run/buildkit/ssh_agent.{len(targets)}"
                binds.append(BindMount(sock, target))
                env["SSH_AUTH_SOCK"] = target
            if target:
                targets.append(target)
        return binds, tmpfs, targets

    # ---- WORKDIR ------------------------------------------------------------------------
    def _workdir(self, stage: Stage, step: Step, state: StageState, label: str) -> None:
        path = step.args["path"]
        state.config["WorkingDir"] = path
        created_by = f"WORKDIR {path}"
        comment = _comment(stage, step.line)
        key = step_key(state.key, "WORKDIR", {"path": path, "user": state.user})
        progress = self.progress.step(f"{label} {progress_title(step.instruction, step.env_map, self.escape)}")
        if self._cached(state, key, created_by, comment, progress):
            return
        layer = None
        with self._mounted(state) as m:
            root = m.merged
            if not os.path.isdir(resolve(root, path)[0]):
                from ..runtime.users import resolve as resolve_user

                ident = resolve_user(state.user, read_text(root, "/etc/passwd"), read_text(root, "/etc/group"))
                _ensure_dir(root, path, ident.uid, ident.gid)
                layer = self._commit_upper(m.changes())
        # a directory that was there makes no layer, and no new date: the image stays the same
        self._finish_layer(state, key, layer, created_by, comment, progress, None if layer else state.created)

    # ---- COPY / ADD ------------------------------------------------------------------------
    def _copy(self, plan: Plan, stage: Stage, step: Step, state: StageState, label: str) -> None:
        instr: ins.Copy = step.instruction
        a = step.args
        what = instr.keyword
        exclude = Matcher.from_text("\n".join(a["exclude"])) if a["exclude"] else None
        chmod = copying.parse_chmod(a["chmod"])
        comment = _comment(stage, step.line)
        created_by = " ".join(instr.original.split()) + " # buildkit"
        progress = self.progress.step(f"{label} {progress_title(instr, step.env_map, self.escape)}")
        with ExitStack() as stack:
            heredocs = {f"<<{h.name}": h for h in instr.heredocs} | {f"<<-{h.name}": h for h in instr.heredocs}
            sources = [s for s in a["sources"] if s not in heredocs]
            urls = [s for s in sources if isinstance(instr, ins.Add) and _is_url(s)]
            sources = [s for s in sources if s not in urls]
            src_state = self._source_state(a["from"]) if "from" in a else None
            opened: dict = {}

            def source():
                """The source tree and selection, mounting a stage only when needed."""
                if not opened:
                    tree = None
                    if src_state is not None:
                        om = stack.enter_context(self._mounted(src_state))
                        tree = SourceTree(om.merged, None, is_context=False)
                    elif sources:
                        if self.context_tree is None:
                            raise DistillError(f"{what} needs a build context, but none was given")
                        tree = self.context_tree
                    sel = copying.select(tree, sources, what, empty_wildcard=True) if sources else copying.Selection([])
                    opened.update(tree=tree, sel=sel)
                return opened["tree"], opened["sel"]

            if src_state is not None and sources:
                # a stage's key fixes its content, so what a selection of it hashes to is memoized
                memo = step_key(src_state.key, "SOURCE", {"sources": sources, "exclude": a["exclude"]})
                content = self.cache.get_memo(memo)
                if content is None:
                    tree, sel = source()
                    content = copying.content_key(tree, sel, exclude)
                    self.cache.put_memo(memo, content)
            else:
                tree, sel = source()
                content = copying.content_key(tree, sel, exclude) if tree else ""
            heredoc_payload = []
            lexer = Lexer("\\", raw_quotes=True, raw_escapes=True)
            env = dict(step.env)
            contents = {}
            for s in a["sources"]:
                if s in heredocs:
                    h = heredocs[s]
                    text = h.content
                    if h.chomp:
                        text = "".join(l.lstrip("\t") for l in text.splitlines(keepends=True))
                    if h.expand:
                        text = lexer.process_word(text, env)
                    contents[s] = text.encode("utf-8", "surrogateescape")
                    heredoc_payload.append([s, contents[s].decode("utf-8", "surrogateescape")])
            downloads = {u: self._download(u, a.get("checksum"), stack) for u in urls}
            payload = {"sources": a["sources"], "dest": a["dest"], "workdir": state.workdir, "chown": a["chown"],
                       "chmod": a["chmod"], "link": a["link"], "parents": a["parents"], "exclude": a["exclude"],
                       "content": content,
                       "heredocs": heredoc_payload, "urls": {u: d[1] for u, d in downloads.items()},
                       "unpack": a.get("unpack")}
            key = step_key(state.key, what, payload)
            if self._cached(state, key, created_by, comment, progress):
                return
            tree, sel = source()
            direct = not isinstance(instr, ins.Add) and not a["link"]  # ADD may unpack archives
            if a["link"]:
                items = self._copy_items(tree, sel, a, state, None, _owner(a, None), chmod, exclude, contents,
                                         downloads, what)
                layer = self._layer_from_items(items)
            elif direct and (layer := self._copy_direct(tree, sel, a, state, chmod, exclude, contents, what,
                                                        step_key(state.key, "DIRECT", payload | {"content": ""}))):
                layer = None if layer is _EMPTY else layer
            else:
                from ..layers.apply import Applier

                m = stack.enter_context(self._mounted(state))
                root = m.merged
                image = RootView(root)
                owner = _owner(a, image)
                items = self._copy_items(tree, sel, a, state, image, owner, chmod, exclude, contents, downloads, what)
                # the image's own symlinks resolve as inside the container (`..` stops at /)
                Applier(root, whiteouts="delete", clamp=True).apply_entries(items)
                if isinstance(instr, ins.Add) and a.get("unpack") is not False:
                    self._add_extract(tree, sel, a, state, root, owner)
                layer = self._commit_upper(m.changes())
        self._finish_layer(state, key, layer, created_by, comment, progress)

    def _copy_direct(self, tree, sel, a, state, chmod, exclude, contents, what, identity):
        """The layer written without a mount (solver/direct.py), _EMPTY for none, or None
        when the copy must go through the overlay."""
        from ..snapshot.unpack import snapshot_id, unpacked
        from . import direct

        lowers = [unpacked(self.store, d, i) for d, i in zip(state.layers, state.diff_ids)]
        image = direct.UnionView(lowers)
        try:
            items = self._copy_items(tree, sel, a, state, image, _owner(a, image), chmod, exclude, contents, {}, what)
            items = direct.entries(image, items)
        except direct.Unsuitable:
            return None
        if not items:
            return _EMPTY
        if direct.small(items):
            return self._layer_from_items(items)
        return direct.write(self.store, items, identity, {snapshot_id(i) for i in state.diff_ids})

    def _copy_items(self, tree, sel, a, state, image, owner, chmod, exclude, contents, downloads, what):
        items = []
        if tree is not None:
            sel_plain = sel
            if "unpack" in a and a.get("unpack") is not False and tree is self.context_tree:
                sel_plain = copying.Selection([(s, [r for r in found if not _is_archive(tree, r)])
                                               for s, found in sel.matches])
            items += copying.plan_items(tree, sel_plain, a["dest"], state.workdir, image, owner, chmod, exclude,
                                        a["parents"], what)
        dest = a["dest"]
        dest_abs = copying.dest_path(dest, state.workdir)
        dest_dir = dest.endswith("/") or (image is not None and image.is_dir(dest_abs))
        for s, content in contents.items():
            name = posixpath.join(dest_abs, s.lstrip("<-")) if dest_dir else dest_abs
            items.append(copying.heredoc_item(name, content, owner, chmod, time.time()))
        for url, (path, digest) in downloads.items():
            base = posixpath.basename(url.split("?")[0].rstrip("/")) or "download"
            name = posixpath.join(dest_abs, base) if dest_dir else dest_abs
            item = copying.CopyItem(name.lstrip("/"), "0", chmod if chmod is not None else 0o600,
                                    *(owner or (0, 0)), time.time(), size=os.path.getsize(path), source=path)
            items.append(item)
        return items

    def _layer_from_items(self, items) -> "Layer | None":
        from ..layers.blob import layer_from

        return layer_from(self.store, lambda sink: copying.write_tar(items, sink)) if items else None

    def _add_extract(self, tree, sel, a, state, root, owner) -> None:
        if tree is not self.context_tree:
            return

        dest = a["dest"]
        dest_abs = copying.dest_path(dest, state.workdir)
        for _, found in sel.matches:
            for rel in found:
                if not _is_archive(tree, rel):
                    continue
                host = tree._resolve(rel)[0]
                with open(host, "rb") as f:
                    head = f.read(6)
                    f.seek(0)
                    _ensure_dir(root, dest_abs, 0, 0)
                    target = resolve(root, dest_abs)[0]
                    from ..layers.apply import Applier

                    Applier(target, whiteouts="delete").apply(decompressed_any(f, head))

    def _scratch_dir(self, stack: ExitStack, prefix: str) -> str:
        """A directory in the store's tmp/ that goes when `stack` closes."""
        from ..store.atomic import remove_tree, temp_dir

        d = temp_dir(self.store.tmp_dir, prefix)
        stack.callback(remove_tree, d)
        return d

    def _download(self, url: str, checksum: str | None, stack: ExitStack) -> tuple[str, str]:
        import httpx

        path = os.path.join(self._scratch_dir(stack, "add-"), "download")
        h = Sha256()
        try:
            with httpx.stream("GET", url, follow_redirects=True, timeout=60) as r:
                if r.status_code != 200:
                    raise DistillError(f"ADD {url}: HTTP {r.status_code}")
                with open(path, "wb") as f:
                    for chunk in r.iter_bytes(1 << 20):
                        h.update(chunk)
                        f.write(chunk)
        except httpx.HTTPError as e:
            raise DistillError(f"ADD {url}: {e}") from None
        digest = "sha256:" + h.hexdigest()
        if checksum and checksum != digest:
            raise DistillError(f"ADD {url}: checksum mismatch: expected {checksum}, got {digest}")
        return path, digest


def decompressed_any(f, head: bytes):
    from ..layers.compress import decompressed, sniff

    if head[:3] == b"BZh":
        import bz2

        return bz2.BZ2File(f)
    if head[:6] == b"\xfd7zXZ\x00":
        import lzma

        return lzma.LZMAFile(f)
    return decompressed(f, sniff(head))


def _is_archive(tree: SourceTree, rel: str) -> bool:
    try:
        host = tree._resolve(rel)[0]
        if not os.path.isfile(host):
            return False
        with open(host, "rb") as f:
            head = f.read(262)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return head[257:262] == b"ustar"


def _is_url(s: str) -> bool:
    return s.startswith("http://") or s.startswith("https://")


def _owner(a: dict, image) -> tuple[int, int] | None:
    """--chown as ids: names looked up in the image the copy lands on; for --link there is
    none, so only numbers do."""
    if not a["chown"]:
        return None
    if image is None:
        return _numeric_owner(a["chown"])
    from ..runtime.users import chown_ids

    return chown_ids(a["chown"], image.read_text("/etc/passwd"), image.read_text("/etc/group"))


def _numeric_owner(spec: str) -> tuple[int, int]:
    user, _, group = spec.partition(":")
    if not user.isdigit() or (group and not group.isdigit()):
        raise DistillError(f"COPY --link --chown={spec}: names cannot be resolved without the image; use numbers")
    return int(user), int(group) if group else int(user)


def _context_view(tree: SourceTree, src: str, dest: str, writable: bool) -> str:
    """The context as a RUN bind mount sees it: only what .dockerignore lets through.
    Files are hard links for a read-only mount and copies for rw, whose writes are lost."""
    import shutil

    host, _ = tree._resolve(src)
    if not os.path.isdir(host):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy2(host, dest)
        return dest
    os.makedirs(dest)
    for e in tree.walk(src, ""):
        out = os.path.join(dest, e.dest)
        mode = e.st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(out)
        elif stat.S_ISLNK(mode):
            os.symlink(e.linkname, out)
        elif stat.S_ISREG(mode):
            try:
                if writable:
                    raise OSError
                os.link(e.source, out)
            except OSError:  # rw, or the context is on another filesystem
                shutil.copy2(e.source, out)
    return dest


def _ensure_dir(root: str, path: str, uid: int, gid: int) -> None:
    """mkdir -p inside the rootfs, new directories owned by uid:gid."""
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        host, rel = resolve(root, "/".join(parts[:i]))
        if not os.path.lexists(host):
            os.mkdir(host, 0o755)
            os.chown(host, uid, gid)


def _parent_metadata(root: str, stubs: list[str]) -> dict[str, tuple[int, int, int]]:
    """(mode, uid, gid) of the existing directories above the mount points runc will create."""
    out = {}
    for p in stubs:
        parent = posixpath.dirname(p)
        while parent not in ("/", ""):
            host = os.path.join(root, parent.lstrip("/"))
            if os.path.isdir(host) and not os.path.islink(host):
                st = os.stat(host)
                out[parent] = (st.st_mode, st.st_uid, st.st_gid)
            parent = posixpath.dirname(parent)
    return out


def _remove_stubs(root: str, upper: str, paths: list[str], parents: dict[str, tuple[int, int, int]]) -> None:
    """Mount points runc had to create for a RUN, removed again when left empty, with the
    directories overlayfs copied up only to hold them (so `RUN true` leaves no layer)."""
    for p in sorted(set(paths), key=lambda s: -s.count("/")):
        host = os.path.join(root, p.lstrip("/"))
        try:
            if os.path.isdir(host) and not os.path.islink(host):
                os.rmdir(host)
            elif os.path.isfile(host) and os.path.getsize(host) == 0:
                os.unlink(host)
        except OSError:
            continue
        parent = posixpath.dirname(p)
        while parent not in ("/", ""):
            if parent in parents:
                # existed before the RUN: drop the copy-up if nothing else changed in it
                up = os.path.join(upper, parent.lstrip("/"))
                try:
                    st = os.stat(up)
                    untouched = (st.st_mode, st.st_uid, st.st_gid) == parents[parent] and not os.listdir(up)
                    opaque = any(x.endswith("overlay.opaque") for x in os.listxattr(up))
                    if untouched and not opaque:
                        os.rmdir(up)
                        parent = posixpath.dirname(parent)
                        continue
                except OSError:
                    pass
                break
            try:
                os.rmdir(os.path.join(root, parent.lstrip("/")))
            except OSError:
                break
            parent = posixpath.dirname(parent)


def _heredoc_script(instr: ins.Run) -> str:
    text = instr.text
    if not instr.heredocs:
        return text
    if len(instr.heredocs) == 1 and text.strip() in (f"<<{instr.heredocs[0].name}", f"<<-{instr.heredocs[0].name}",
                                                      f"<<'{instr.heredocs[0].name}'", f'<<"{instr.heredocs[0].name}"'):
        h = instr.heredocs[0]
        content = h.content
        if h.chomp:
            content = "".join(l.lstrip("\t") for l in content.splitlines(keepends=True))
        return content
    parts = [text]
    for h in instr.heredocs:
        parts.append(h.content.rstrip("\n") if h.content else "")
        parts.append(h.name)
    return "\n".join(p for p in parts if p is not None)

