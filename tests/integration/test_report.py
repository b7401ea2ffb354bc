"""distill report opened in a real browser (Debian's chromium, headless): it renders, no
script error, the treemap's largest box is the image's largest directory, names from the
image are escaped, the tables stand without the script; and build --report writes it."""

import json
import re
import subprocess

import pytest

from bed.images import copy_image, waste_dockerfile
from buildtools import BUSYBOX, build, write_context
from clirun import distill
from distill import api

HOSTILE = "<script>alert(1)<"  # a file name a stranger's image may hold


@pytest.fixture
def store(store, busybox_store):
    copy_image(busybox_store, store, BUSYBOX)
    return store


def chromium(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def built(store, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"app.txt": "app\n"})
    text = waste_dockerfile(BUSYBOX) + f"""RUN mkdir -p /srv/data && head -c 3000000 /dev/zero > /srv/data/big && \\
    head -c 10 /dev/zero > '/srv/{HOSTILE}'
{"FROM " + BUSYBOX}
COPY --from=0 /srv /srv
COPY app.txt /app.txt
"""
    build(store, ctx, text, tags=["localhost/report:1"])
    return text


def test_the_report_renders_in_chromium(store, built, tmp_path):
    page = tmp_path / "report.html"
    distill("report", "localhost/report:1", "-o", page, root=store.root)
    html = page.read_text()
    assert HOSTILE not in html  # in the page's data as \u003cscript>..., in its tables as &lt;script&gt;...
    # the tables stand without the script: every layer is a row
    assert html.count("<span class='sw'") == 3
    assert "No vulnerability database in the store" in html and "No package database in the image." in html
    dom = chromium("--dump-dom", page.as_uri())
    assert 'data-rendered="yes"' in dom.stdout, dom.stderr[-2000:]
    assert "data-errors" not in dom.stdout
    assert not re.search(r"CONSOLE.*(Uncaught|Error)", dom.stderr), dom.stderr[-2000:]
    boxes = []
    for tag in re.findall(r'<div class="box[^"]*top"[^>]*>', dom.stdout):
        style = re.search(r'style="([^"]*)"', tag).group(1)
        w, h = (float(re.search(rf"{k}: ([\d.]+)px", style).group(1)) for k in ("width", "height"))
        boxes.append((w * h, re.search(r'data-path="([^"]*)"', tag).group(1), " dir" in tag))
    assert len(boxes) >= 3, dom.stdout[:3000]
    _, path, is_dir = max(boxes)
    size = api.size(store, "localhost/report:1")
    assert (path, is_dir) == (size["largest_dirs"][0]["path"], True) == ("/srv", True)
    # a hostile name reaches the page as text (a box's label, its title), never as markup
    assert HOSTILE not in dom.stdout
    assert 'title="/srv/&lt;script&gt;alert(1)&lt;' in dom.stdout
    shot = tmp_path / "report.png"
    chromium("--window-size=1280,900", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000


def test_build_writes_the_report_and_the_sbom(store, tmp_path):
    page, bom = tmp_path / "built.html", tmp_path / "bom.json"
    r = distill("build", "-t", "localhost/report:2", "--report", page, "--sbom", bom, "-f", "-", root=store.root,
                input=f"FROM {BUSYBOX}\nRUN echo hi > /hi\n")
    assert "wrote " in r.stderr and page.read_text().startswith("<!doctype html>")
    assert json.loads(bom.read_text())["metadata"]["component"]["name"] == "localhost/report:2"
    assert "localhost/report:2" in page.read_text()
    r = distill("report", "localhost/report:2", "-o", tmp_path / "no" / "such" / "dir.html", root=store.root,
                check=False)
    assert r.returncode != 0 and "No such file or directory" in r.stderr and "Traceback" not in r.stderr
