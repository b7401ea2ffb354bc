"""distill db and distill scan on images built here, with a small OSV data set made for
the test (records in OSV's own format, as an all.zip and as a directory): the expected
matches exactly, a binary package found through its source package, a fixed version that
must not match, the ignore file and --fail-on."""

import json
import zipfile

import pytest

from bed.images import PYTHON_BASE, copy_image
from buildtools import BUSYBOX, build, write_context
from clirun import distill
from distill import api

METADATA = "Metadata-Version: 2.1\nName: Flask\nVersion: 2.3.3\n"


def record(vid, ecosystem, name, events=None, versions=None, severity=None, summary="a test record"):
    affected = {"package": {"ecosystem": ecosystem, "name": name}}
    if events:
        affected["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    if versions:
        affected["versions"] = versions
    doc = {"id": vid, "modified": "2026-01-01T00:00:00Z", "summary": summary, "affected": [affected]}
    if severity:
        doc["database_specific"] = {"severity": severity}
    return doc


@pytest.fixture
def store(python_store, busybox_store):
    copy_image(busybox_store, python_store, BUSYBOX)
    return python_store


def glibc_version(store) -> str:
    doc = json.loads(api.sbom(store, PYTHON_BASE, "json"))
    return next(c["source_version"] for c in doc["components"] if c["name"] == "libc6")


def test_scan_matches_exactly(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"METADATA": METADATA})
    build(store, ctx, f"FROM {PYTHON_BASE}\nCOPY METADATA /usr/lib/python3/dist-packages/Flask-2.3.3.dist-info/"
                      f"METADATA\n", tags=["localhost/scan:1"])
    glibc = glibc_version(store)
    records = [
        # glibc (a source package) fixed after the installed version: every binary built from it
        record("TEST-0001", "Debian:12", "glibc", [{"introduced": "0"}, {"fixed": glibc + "+zz1"}], severity="HIGH"),
        # fixed before the installed version: must not match
        record("TEST-0002", "Debian:12", "glibc", [{"introduced": "0"}, {"fixed": "2.36-9+deb12u1"}]),
        # another release's record for the same package: must not match
        record("TEST-0003", "Debian:11", "glibc", [{"introduced": "0"}]),
        record("TEST-0004", "PyPI", "flask", [{"introduced": "2.0"}, {"fixed": "2.3.4"}], severity="MODERATE"),
        record("TEST-0005", "PyPI", "Flask", [{"introduced": "0"}, {"fixed": "2.3.3"}]),  # fixed in what is there
        record("TEST-0006", "PyPI", "flask", versions=["2.3.3"]),  # listed, no fix known
    ]
    osv = tmp_path / "osv"
    osv.mkdir()
    for r in records[:3]:
        (osv / f"{r['id']}.json").write_text(json.dumps(r))
    bundle = tmp_path / "all.zip"
    with zipfile.ZipFile(bundle, "w") as z:
        for r in records[3:]:
            z.writestr(f"{r['id']}.json", json.dumps(r))
    said = distill("db", "import", osv, bundle, root=store.root).stdout
    assert said.strip() == "imported 6 records: Debian:11 1, Debian:12 2, PyPI 3"
    result = api.scan(store, "localhost/scan:1")
    glibc_binaries = sorted(c["name"] for c in json.loads(api.sbom(store, PYTHON_BASE, "json"))["components"]
                            if c["type"] == "dpkg" and c["source"] == "glibc")
    assert len(glibc_binaries) >= 2  # libc6, libc-bin
    got = sorted((f["id"], f["package"]) for f in result["findings"])
    assert got == sorted([("TEST-0001", p) for p in glibc_binaries] + [("TEST-0004", "Flask"), ("TEST-0006", "Flask")])
    libc = next(f for f in result["findings"] if f["package"] == "libc6")
    assert (libc["source"], libc["fixed"], libc["severity"], libc["ecosystem"]) == \
        ("glibc", [glibc + "+zz1"], "high", "Debian:12")
    flask = next(f for f in result["findings"] if f["id"] == "TEST-0004")
    assert (flask["fixed"], flask["severity"], flask["stage"], flask["line"]) == (["2.3.4"], "medium", "stage-0", 2)
    # --ignore-unfixed drops TEST-0006; an ignore file drops what it names
    unfixed = api.scan(store, "localhost/scan:1", ignore_unfixed=True)
    assert "TEST-0006" not in {f["id"] for f in unfixed["findings"]}
    vex = tmp_path / "vex.json"
    vex.write_text(json.dumps({"statements": [{"vulnerability": {"name": "TEST-0001"}, "status": "not_affected"}]}))
    r = distill("scan", "--format", "json", "--ignore-file", vex, "localhost/scan:1", root=store.root)
    assert {f["id"] for f in json.loads(r.stdout)["findings"]} == {"TEST-0004", "TEST-0006"}
    assert distill("scan", "--fail-on", "high", "localhost/scan:1", root=store.root, check=False).returncode == 1
    r = distill("scan", "--fail-on", "high", "--ignore-file", vex, "localhost/scan:1", root=store.root, check=False)
    assert r.returncode == 0 and "2 vulnerabilities in" in r.stdout
    # SARIF: valid, a rule a vulnerability, the PyPI findings at the COPY's Dockerfile line
    from sarifschema import assert_valid_sarif

    doc = json.loads(distill("scan", "--format", "sarif", "localhost/scan:1", root=store.root).stdout)
    assert_valid_sarif(doc)
    results = doc["runs"][0]["results"]
    assert len(results) == len(result["findings"])
    pypi = [x for x in results if x["ruleId"] == "TEST-0004"]
    assert pypi[0]["level"] == "warning" and pypi[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 2
    # CycloneDX 1.6 with vulnerabilities: valid, each affecting the components it was found in
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    bom = distill("scan", "--format", "cyclonedx-json", "localhost/scan:1", root=store.root).stdout
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(bom) is None
    vulns = {v["id"]: v for v in json.loads(bom)["vulnerabilities"]}
    assert set(vulns) == {"TEST-0001", "TEST-0004", "TEST-0006"}
    assert len(vulns["TEST-0001"]["affects"]) == len(glibc_binaries)
    assert vulns["TEST-0004"]["ratings"][0]["severity"] == "medium" and \
        vulns["TEST-0004"]["recommendation"] == "Upgrade to 2.3.4"
    status = distill("db", "status", root=store.root).stdout
    assert status.startswith("6 records, imported 0.0 days ago") and "PyPI: 3" in status


def test_db_errors_are_one_line(store, tmp_path):
    r = distill("scan", BUSYBOX, root=tmp_path / "empty", check=False)
    assert r.returncode != 0 and r.stderr.strip().startswith("distill: error: no vulnerability database")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.json").write_text("{not json")
    r = distill("db", "import", bad, root=store.root, check=False)
    assert r.returncode != 0 and r.stderr.strip() == f"distill: error: {bad / 'x.json'}: not valid JSON"
    (bad / "x.json").write_text(json.dumps({"no": "id"}))
    r = distill("db", "import", bad, root=store.root, check=False)
    assert "not an OSV record" in r.stderr and "Traceback" not in r.stderr


def test_scan_stages_splits_what_ships_from_what_stayed_behind(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"METADATA": METADATA})
    build(store, ctx, f"""FROM {PYTHON_BASE} AS builder
COPY METADATA /usr/lib/python3/dist-packages/Flask-2.3.3.dist-info/METADATA
FROM {PYTHON_BASE}
COPY --from=builder /etc/hostname /etc/hostname-copy
""", tags=["localhost/scan:multi"])
    osv = tmp_path / "osv"
    osv.mkdir()
    for r in (record("TEST-0004", "PyPI", "flask", [{"introduced": "2.0"}, {"fixed": "2.3.4"}]),
              record("TEST-0001", "Debian:12", "glibc", [{"introduced": "0"}, {"fixed": glibc_version(store) + "+zz1"}])):
        (osv / f"{r['id']}.json").write_text(json.dumps(r))
    distill("db", "import", osv, root=store.root)
    result = api.scan(store, "localhost/scan:multi", stages=True)
    assert {f["id"] for f in result["findings"]} == {"TEST-0001"}  # glibc ships in both
    assert [(f["id"], f["package"], f["stage"], f["line"]) for f in result["builder_only"]["builder"]] == \
        [("TEST-0004", "Flask", "builder", 2)]
    out = distill("scan", "--stages", "localhost/scan:multi", root=store.root).stdout
    assert "stage builder: 1 more findings (1 vulnerabilities) only in the builder stage, not shipped: TEST-0004" in out


def test_db_update_downloads_each_ecosystem_s_export(store, tmp_path):
    """Against a local HTTP server laid out as OSV's bucket: one directory an ecosystem."""
    import http.server
    import threading
    from functools import partial

    root = tmp_path / "bucket"
    for eco, r in (("PyPI", record("TEST-0004", "PyPI", "flask", [{"introduced": "0"}, {"fixed": "9"}])),
                   ("Debian", record("TEST-0001", "Debian:12", "glibc", [{"introduced": "0"}]))):
        (root / eco).mkdir(parents=True)
        with zipfile.ZipFile(root / eco / "all.zip", "w") as z:
            z.writestr(f"{r['id']}.json", json.dumps(r))
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        said = distill("db", "update", "--source", url, "--ecosystem", "PyPI", "--ecosystem", "Debian:12",
                       root=store.root).stdout
        assert said.strip() == "imported 2 records: Debian:12 1, PyPI 1"
        r = distill("db", "update", "--source", url, "--ecosystem", "npm", root=store.root, check=False)
        assert r.returncode != 0 and r.stderr.strip() == f"distill: error: {url}/npm/all.zip: HTTP 404"
        assert "2 records" in distill("db", "status", root=store.root).stdout  # the failed update changed nothing
    finally:
        server.shutdown()


def test_go_modules_of_a_real_go_program(store, tmp_path):
    """Debian's docker-registry (setup installs it) is a Go program: its SBOM entry gives
    the Go toolchain it was built with, which dpkg's Built-Using field says independently."""
    import shutil
    import subprocess

    ctx = tmp_path / "ctx"
    ctx.mkdir()
    shutil.copy("/usr/bin/docker-registry", ctx / "registry")
    build(store, ctx, f"FROM {BUSYBOX}\nCOPY registry /usr/local/bin/registry\n", tags=["localhost/scan:go"])
    built_using = subprocess.run(["dpkg-query", "-W", "-f", "${Built-Using}", "docker-registry"], check=True,
                                 capture_output=True, text=True).stdout
    golang = next(p for p in built_using.split(", ") if p.startswith("golang-1."))
    toolchain = golang.split("(= ")[1].rstrip(")").rsplit("-", 1)[0]  # golang-1.19 (= 1.19.8-2): 1.19.8
    doc = json.loads(api.sbom(store, "localhost/scan:go", "json"))
    go = {c["name"]: c for c in doc["components"] if c["type"] == "go"}
    assert go["stdlib"]["version"] == toolchain and go["stdlib"]["path"] == "/usr/local/bin/registry"
    assert go["stdlib"]["purl"] == f"pkg:golang/stdlib@{toolchain}" and go["stdlib"]["line"] == 2
    assert "github.com/docker/distribution/cmd/registry" in go
    record_ = record("TEST-GO-1", "Go", "stdlib", [{"introduced": "0"}, {"fixed": "99.0.0"}])
    osv = tmp_path / "osv"
    osv.mkdir()
    (osv / "go.json").write_text(json.dumps(record_))
    distill("db", "import", osv, root=store.root)
    assert [(f["id"], f["package"]) for f in api.scan(store, "localhost/scan:go")["findings"]] == \
        [("TEST-GO-1", "stdlib")]


def test_java_archives_in_the_sbom(store, tmp_path):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with zipfile.ZipFile(ctx / "app.jar", "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\nMain-Class: App\r\n")
        z.writestr("META-INF/maven/org.example/app/pom.properties", "groupId=org.example\nartifactId=app\nversion=1.4.2\n")
        z.writestr("App.class", b"\xca\xfe\xba\xbe")
    build(store, ctx, f"FROM {BUSYBOX}\nWORKDIR /srv\nCOPY app.jar lib/app.jar\n", tags=["localhost/scan:jar"])
    (jar,) = [c for c in json.loads(api.sbom(store, "localhost/scan:jar", "json"))["components"] if c["type"] == "java"]
    assert (jar["name"], jar["version"], jar["purl"], jar["path"], jar["line"]) == \
        ("org.example:app", "1.4.2", "pkg:maven/org.example/app@1.4.2", "/srv/lib/app.jar", 3)


SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: a package made for the test
License: {licence}
BuildArch: noarch
%description
made for the test
%install
mkdir -p %{{buildroot}}/usr/share/{name}
echo {name} > %{{buildroot}}/usr/share/{name}/README
%files
/usr/share/{name}/README
"""


def test_rpm_database_matches_what_rpm_reports(store, tmp_path):
    """Two packages built with rpmbuild and installed with rpm (Debian's rpm, which setup
    installs) into a root whose rpmdb.sqlite goes into an image: the SBOM lists what
    `rpm -qa` lists from that database."""
    import subprocess

    top, root = tmp_path / "rpmbuild", tmp_path / "root"
    (top / "SPECS").mkdir(parents=True)
    for name, version, release, epoch, licence in (("hello-distill", "1.2.3", "4", "Epoch: 2\n", "MIT AND Apache-2.0"),
                                                   ("other-tool", "0.9", "1.fc40", "", "GPL-2.0-or-later")):
        spec = top / "SPECS" / f"{name}.spec"
        spec.write_text(SPEC.format(name=name, version=version, release=release, epoch=epoch, licence=licence))
        subprocess.run(["rpmbuild", "--define", f"_topdir {top}", "-bb", spec], check=True, capture_output=True)
    rpm = ["rpm", "--root", str(root), "--dbpath", "/var/lib/rpm"]
    subprocess.run(rpm + ["--initdb"], check=True, capture_output=True)
    rpms = sorted(str(p) for p in (top / "RPMS" / "noarch").glob("*.rpm"))
    subprocess.run(rpm + ["-i", "--nodeps", "--noscripts", *rpms], check=True, capture_output=True)
    listed = subprocess.run(rpm + ["-qa", "--qf", "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{ARCH} "
                                                  "%{LICENSE}\\n"], check=True, capture_output=True, text=True).stdout
    build(store, root, f"FROM {BUSYBOX}\nCOPY var/lib/rpm/rpmdb.sqlite /var/lib/rpm/rpmdb.sqlite\nCOPY usr /usr\n",
          tags=["localhost/scan:rpm"])
    found = [c for c in json.loads(api.sbom(store, "localhost/scan:rpm", "json"))["components"] if c["type"] == "rpm"]
    assert sorted(f"{c['name']} {c['version']} {c['arch']} {c['license']}" for c in found) == \
        sorted(listed.splitlines())
    hello = next(c for c in found if c["name"] == "hello-distill")
    assert hello["purl"] == "pkg:rpm/redhat/hello-distill@1.2.3-4?arch=noarch&epoch=2" and hello["line"] == 2
    owned = subprocess.run(rpm + ["-ql", "hello-distill"], check=True, capture_output=True, text=True).stdout
    assert hello["files"] == owned.split()
