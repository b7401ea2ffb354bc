"""distill check on Node.js and Java programs: the entry file, its modules, the jar and its
main class, on Debian's nodejs and openjdk-17-jre-headless. Every verdict is held
against what starting the image does (--run)."""

import io
import json
import struct
import zipfile

import pytest

from buildtools import build, write_context
from clirun import distill


def _cmd(words):
    return "CMD " + json.dumps(words) + "\n"


NODE_CASES = {
    "node FILE missing": (_cmd(["node", "/app/server.js"]), {}, "fail", "node-file-missing"),
    "a dependency left out": ("COPY server.js /app/\n" + _cmd(["node", "/app/server.js"]),
                              {"server.js": "const express = require('express');\n"}, "fail", "node-module-missing"),
    "an ES module's dependency left out": ("COPY server.mjs /app/\n" + _cmd(["node", "/app/server.mjs"]),
                                           {"server.mjs": "import express from 'express';\n"}, "fail",
                                           "node-module-missing"),
    "a relative module missing": ("COPY server.js /app/\n" + _cmd(["node", "/app/server.js"]),
                                  {"server.js": "const util = require('./lib/util');\n"}, "fail",
                                  "node-module-missing"),
    "dependencies in node_modules": (
        "WORKDIR /app\nCOPY . /app/\n" + _cmd(["node", "server"]),
        {"server.js": "const fs = require('fs');\nconst path = require('node:path');\n"
                      "const express = require('express');\nconst util = require('./lib/util');\n",
         "lib/util.js": "const scoped = require('@acme/log');\nmodule.exports = {};\n",
         "node_modules/express/package.json": '{"name": "express", "main": "lib/express.js"}',
         "node_modules/express/lib/express.js": "module.exports = {};\n",
         "node_modules/@acme/log/index.js": "module.exports = {};\n"}, "ok", None),
    "an optional require inside a function": (
        "COPY server.js /app/\n" + _cmd(["node", "/app/server.js"]),
        {"server.js": "function later() {\n  return require('optional-thing');\n}\n"}, "ok", None),
}


def _class_file(name: str) -> bytes:
    """The smallest class with `public static void main(String[])` that returns (class
    file version 52), so the tests need no JDK."""
    def utf8(text):
        raw = text.encode()
        return b"\x01" + struct.pack(">H", len(raw)) + raw

    pool = [utf8(name), b"\x07" + struct.pack(">H", 1), utf8("java/lang/Object"), b"\x07" + struct.pack(">H", 3),
            utf8("main"), utf8("([Ljava/lang/String;)V"), utf8("Code")]
    code = struct.pack(">HHI", 0, 1, 1) + b"\xb1" + struct.pack(">HH", 0, 0)
    method = struct.pack(">HHHH", 0x0009, 5, 6, 1) + struct.pack(">HI", 7, len(code)) + code
    return (b"\xca\xfe\xba\xbe" + struct.pack(">HHH", 0, 52, len(pool) + 1) + b"".join(pool) +
            struct.pack(">HHHHHH", 0x0021, 2, 4, 0, 0, 1) + method + struct.pack(">H", 0))


def _jar(manifest: str | None, classes: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if manifest is not None:
            z.writestr("META-INF/MANIFEST.MF", manifest)
        for name, data in classes.items():
            z.writestr(name, data)
    return buf.getvalue()


MAIN = {"app/Main.class": _class_file("app/Main")}
JAVA_CASES = {
    "java -jar FILE missing": ("WORKDIR /app\n" + _cmd(["java", "-jar", "app.jar"]), {}, "fail", "java-jar-missing"),
    "a jar without Main-Class": ("WORKDIR /app\nCOPY app.jar /app/\n" + _cmd(["java", "-jar", "app.jar"]),
                                 {"app.jar": _jar("Manifest-Version: 1.0\n\n", MAIN)}, "fail", "java-no-main-class"),
    "a Main-Class not in the jar": (
        "WORKDIR /app\nCOPY app.jar /app/\n" + _cmd(["java", "-jar", "app.jar"]),
        {"app.jar": _jar("Manifest-Version: 1.0\nMain-Class: app.Other\n\n", MAIN)}, "fail", "java-class-missing"),
    "a runnable jar": ("WORKDIR /app\nCOPY app.jar /app/\n" + _cmd(["java", "-Xmx64m", "-jar", "app.jar"]),
                       {"app.jar": _jar("Manifest-Version: 1.0\nMain-Class: app.Main\n\n", MAIN)}, "ok", None),
    "a main class through Class-Path": (
        "WORKDIR /app\nCOPY app.jar /app/\nCOPY lib.jar /app/lib/\n" + _cmd(["java", "-jar", "app.jar"]),
        {"app.jar": _jar("Manifest-Version: 1.0\nMain-Class: app.Main\nClass-Path: lib/lib.jar\n\n", {}),
         "lib.jar": _jar(None, MAIN)}, "ok", None),
    "a main class on -cp": ("COPY Main.class /app/classes/app/\n" + _cmd(["java", "-cp", "/app/classes", "app.Main"]),
                            {"Main.class": MAIN["app/Main.class"]}, "ok", None),
    "a main class not on -cp": (_cmd(["java", "-cp", "/app/classes", "app.Main"]), {}, "fail", "java-class-missing"),
}


def _verdict(store, tmp_path, base, lines, files):
    build(store, write_context(tmp_path / "ctx", files), f"FROM {base}\n{lines}", tags=["localhost/rtcheck:1"])
    r = distill("check", "--run", "15", "--format", "json", "localhost/rtcheck:1", root=store.root, check=False)
    assert r.returncode in (0, 1), r.stderr
    report = json.loads(r.stdout)
    first = next((f["rule"] for f in report["findings"] if f["severity"] == "error"), None)
    return report, first


@pytest.mark.parametrize("case", sorted(NODE_CASES))
def test_node_verdicts_are_what_starting_it_does(runtime_store, tmp_path, case):
    from bed.images import NODE_BASE

    lines, files, verdict, rule = NODE_CASES[case]
    report, first = _verdict(runtime_store, tmp_path, NODE_BASE, lines, files)
    assert (report["verdict"], first) == (verdict, rule), report["findings"]
    assert report["run"]["started"] is (verdict == "ok"), report["run"]
    if rule:
        assert any("MODULE_NOT_FOUND" in line or "Cannot find module" in line for line in report["run"]["stderr"])


@pytest.mark.parametrize("case", sorted(JAVA_CASES))
def test_java_verdicts_are_what_starting_it_does(runtime_store, tmp_path, case):
    from bed.images import JAVA_BASE

    lines, files, verdict, rule = JAVA_CASES[case]
    report, first = _verdict(runtime_store, tmp_path, JAVA_BASE, lines, files)
    assert (report["verdict"], first) == (verdict, rule), report["findings"]
    assert report["run"]["started"] is (verdict == "ok"), report["run"]
    said = {"java-jar-missing": "Unable to access jarfile", "java-no-main-class": "no main manifest attribute",
            "java-class-missing": "Could not find or load main class"}
    if rule:
        assert any(said[rule] in line for line in report["run"]["stderr"]), report["run"]


def test_a_node_module_left_in_a_builder_stage_is_found_there(runtime_store, tmp_path):
    from bed.images import NODE_BASE

    files = {"server.js": "const pad = require('left-pad');\n",
             "node_modules/left-pad/index.js": "module.exports = 1;\n"}
    lines = (f"COPY . /src/\nFROM {NODE_BASE}\nCOPY --from=0 /src/server.js /app/server.js\n" +
             _cmd(["node", "/app/server.js"]))
    report, first = _verdict(runtime_store, tmp_path, NODE_BASE, lines, files)
    (finding,) = report["findings"]
    assert finding["found_in"]["path"] == "/src/node_modules/left-pad" and finding["found_in"]["stage"] == "stage-0"
    assert finding["message"].endswith("Fix: COPY --from=0 /src/node_modules /app/node_modules")
    assert report["run"]["started"] is False
