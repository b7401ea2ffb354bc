"""The seed demo end to end: the Flask example built multi-stage and single-stage, rebuilt
with nothing changed (every step CACHED), rebuilt after an app.py edit (only what depends
on it runs), sizes compared, and the multi-stage image answering on port 5000."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bed.images import DEMO_BASES, cached_base, example_context
from buildtools import steps
from clirun import distill
from distill.image.store.images import lookup
from distill.image.store import Store
from imagetools import assert_view_is_unpack



@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("flask-demo")
    store = Store(work / "store")
    for name, packages in DEMO_BASES.items():
        cached_base(store, name, packages)
    return store.root, example_context("flask", work / "flask")


def port_holder(port: int) -> str | None:
    """Who holds `port` on this machine (the demo publishes the image's port on it), or
    None when it is free."""
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError as e:
            try:
                ss = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True)
            except OSError:  # no iproute2
                return e.strerror
            return ss.stdout.strip() or e.strerror
    return None


def test_flask_demo(demo):
    root, ctx = demo
    for port in (5000, 5055):
        holder = port_holder(port)
        assert holder is None, f"port {port} is busy, and the test needs it free: {holder}"
    cold = distill("build", "--progress", "plain", "-t", "flask-demo:multi", ctx, root=root)
    ran, cached = steps(cold.stderr)
    assert len(ran) == 6 and not cached, cold.stderr

    record = json.loads(distill("inspect", "--build-record", "flask-demo:multi", root=root).stdout)
    builder, final = record["stages"]
    assert (builder["name"], final["name"]) == ("builder", None)
    for stage, base in ((builder, "localhost/debian/python-build:bookworm"), (final, "localhost/debian/python:bookworm")):
        image = json.loads(distill("inspect", base, root=root).stdout)
        assert stage["base"] == {"ref": base, "kind": "image", "digest": image["Digest"]}
    dockerfile = (ctx / "Dockerfile").read_text().splitlines()
    for stage in (builder, final):
        for step in stage["steps"]:  # each step names its own line of the Dockerfile
            assert dockerfile[step["line"] - 1].startswith(step["instruction"].split()[0]), step
    assert [s["line"] for s in final["steps"]] == [16, 17, 18, 19, 20, 21]
    venv = final["steps"][1]
    assert venv["instruction"] == "COPY --from=builder /opt/venv /opt/venv"
    assert venv["copies"] == {"from": {"stage": 0, "name": "builder"}, "paths": [["/opt/venv", "/opt/venv"]],
                              "truncated": False}

    # imagefs reads the real image (Debian's merged /usr, hard links, a venv) as unpacking does
    store = Store(root)
    assert_view_is_unpack(store, lookup(store, "flask-demo:multi"), Path(root).parent / "unpacked-multi")

    noop = distill("build", "--progress", "plain", "-t", "flask-demo:multi", ctx, root=root)
    ran, cached = steps(noop.stderr)
    assert ran == [] and len(cached) == 6, noop.stderr

    (ctx / "app.py").write_text((ctx / "app.py").read_text().replace("Hello, World!", "Hello again!"))
    edit = distill("build", "--progress", "plain", "-t", "flask-demo:edited", ctx, root=root)
    ran, cached = steps(edit.stderr)
    assert ran == ["[stage-1 4/4] COPY app.py ."], edit.stderr  # as BuildKit labels it
    assert len(cached) == 5

    distill("build", "-q", "-t", "flask-demo:single", "-f", ctx / "Dockerfile.single", ctx, root=root)
    multi = _size(root, "flask-demo:multi")
    single = _size(root, "flask-demo:single")
    assert multi < single * 0.75, (multi, single)

    # as the seed runs it, but on another port of the machine: the app answers on 5055,
    # and nothing listens on 5000 (its own network's port)
    cid = distill("run", "-d", "-p", "5055:5000", "flask-demo:multi", root=root).stdout.strip()
    try:
        body = None
        for _ in range(150):
            try:
                body = httpx.get("http://127.0.0.1:5055/", timeout=1).text
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert body == "Hello, World!"
        assert port_holder(5000) is None
        with pytest.raises(httpx.ConnectError):
            httpx.get("http://127.0.0.1:5000/", timeout=1)
    finally:
        distill("stop", "-t", "2", cid, root=root)


def _size(root, ref):
    info = json.loads(distill("inspect", ref, root=root).stdout)
    return sum(l["size"] for l in info["Manifest"]["layers"])


def test_the_django_example_is_flagged_and_the_flask_one_passes(demo, tmp_path):
    """The seed's Django example builds and cannot start: distill check says so, names the
    stage that has gunicorn and the COPY that left it there; running it agrees."""
    root, flask_ctx = demo
    ctx = example_context("django", tmp_path / "django")
    distill("build", "-q", "-t", "django-demo:multi", ctx, root=root)
    r = distill("check", "--format", "json", "django-demo:multi", root=root, check=False)
    assert r.returncode == 1
    (gunicorn,) = [f for f in json.loads(r.stdout)["findings"] if f["severity"] == "error"]
    assert gunicorn["rule"] == "not-on-path" and gunicorn["program"] == "gunicorn"
    assert gunicorn["found_in"]["stage"] == "build" and gunicorn["found_in"]["path"] == "/usr/local/bin/gunicorn"
    assert gunicorn["found_in"]["instruction"].startswith("RUN pip3 install")
    assert "copies only /app" in gunicorn["message"] and "virtual environment" in gunicorn["message"]
    ran = subprocess.run(["timeout", "60", sys.executable, "-m", "distill", "run", "--network", "none",
                          "django-demo:multi"], capture_output=True, text=True, env=dict(os.environ, DISTILL_ROOT=str(root)))
    assert ran.returncode != 0, ran.stderr  # it cannot start, as check said
    distill("build", "-q", "-t", "flask-demo:checked", flask_ctx, root=root)  # cached after the other test
    said = distill("check", "flask-demo:checked", root=root).stdout.strip().splitlines()
    assert said[-1] == "flask-demo:checked: will start"
    assert said[0].startswith("python: /opt/venv/bin/python3 → /usr/bin/python3.11 (Python 3.11, virtual "
                              "environment /opt/venv); sys.path: /app,") and len(said) == 2  # no findings


def test_the_sbom_lists_what_the_image_itself_reports(demo):
    """The Flask image's SBOM against dpkg-query and pip run inside it: names and
    versions exactly, each Debian package's source too; the CycloneDX and SPDX forms
    validate."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    root, ctx = demo
    distill("build", "-q", "-t", "flask-demo:sbom", ctx, root=root)
    doc = json.loads(distill("sbom", "--format", "json", "flask-demo:sbom", root=root).stdout)
    by_type = {}
    for c in doc["components"]:
        by_type.setdefault(c["type"], []).append(c)
    dpkg = distill("run", "--network", "none", "flask-demo:sbom", "dpkg-query", "-W", "-f",
                   "${Package} ${Version} ${source:Package} ${source:Version}\\n", root=root).stdout
    assert sorted(tuple(l.split(" ")) for l in dpkg.splitlines()) == \
        sorted((c["name"], c["version"], c["source"], c["source_version"]) for c in by_type["dpkg"])
    pip = json.loads(distill("run", "--network", "none", "flask-demo:sbom", "/opt/venv/bin/python", "-m", "pip",
                             "list", "--format", "json", root=root).stdout)
    venv = [c for c in by_type["python"] if c["path"].startswith("/opt/venv/")]
    assert sorted((p["name"].lower(), p["version"]) for p in pip) == \
        sorted((c["name"].lower(), c["version"]) for c in venv)
    flask = next(c for c in venv if c["name"] == "Flask")
    assert flask["purl"] == "pkg:pypi/flask@2.3.3" and (flask["stage"], flask["line"]) == ("stage-1", 17)
    assert "/opt/venv/lib/python3.11/site-packages/flask/app.py" in flask["files"]
    # licences from each package's machine-readable debian/copyright, as SPDX where Debian's name has one
    dash = next(c for c in by_type["dpkg"] if c["name"] == "dash")
    assert dash["license"] == "BSD-3-Clause AND GPL-2.0-or-later"
    libc = next(c for c in by_type["dpkg"] if c["name"] == "libc6")
    assert libc["license"] == ""  # its copyright file is free-form
    assert libc["purl"].startswith(f"pkg:deb/debian/libc6@{libc['version'].replace('+', '%2B')}?arch=amd64")
    assert "upstream=glibc" in libc["purl"] and "/lib/x86_64-linux-gnu/libc.so.6" in libc["files"]  # as dpkg lists it
    assert libc["stage"] is None and libc["layer"] == 0  # the base's
    bom = distill("sbom", "--format", "cyclonedx-json", "flask-demo:sbom", root=root).stdout
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom) is None
    cdx = json.loads(bom)
    assert len(cdx["components"]) == len(doc["components"])
    # the image depends on every package, each package on nothing listed
    deps = {d["ref"]: d.get("dependsOn", []) for d in cdx["dependencies"]}
    refs = {c["bom-ref"] for c in cdx["components"]}
    image_ref = cdx["metadata"]["component"]["bom-ref"]
    assert set(deps) == refs | {image_ref} and set(deps[image_ref]) == refs
    assert not any(deps[r] for r in refs)
    # SPDX 2.3, read back and validated by spdx-tools
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    spdx_file = Path(root).parent / "bom.spdx.json"
    distill("sbom", "--format", "spdx-json", "-o", spdx_file, "flask-demo:sbom", root=root)
    parsed = parse_file(str(spdx_file))
    assert validate_full_spdx_document(parsed) == []
    assert len(parsed.packages) == len(doc["components"]) + 1  # and the image itself
    flask_spdx = next(p for p in parsed.packages if p.name == "Flask")
    assert flask_spdx.external_references[0].locator == "pkg:pypi/flask@2.3.3"
