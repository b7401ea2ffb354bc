"""The package databases' parsers, on the shapes the real files take."""

from distill.analyze.packages.apk import parse_apk_installed
from distill.analyze.packages.dpkg import debian_licences, parse_dpkg_status
from distill.analyze.packages.python import canonical_name, parse_metadata


def test_dpkg_status():
    text = ("Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u10\n"
            "Description: GNU C Library\n Version: 9 (a continuation line, not a field)\n\n"
            "Package: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36-9+deb12u10\n\n"
            "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n\n"
            "Package: half\nStatus: install ok half-configured\nVersion: 2\n\n"
            "Package: noversion\nStatus: install ok installed\n\n"
            "garbage without a colon\n\nPackage: distroless\nVersion: 1.0\n")
    assert parse_dpkg_status(text) == {"libc6": "2.36-9+deb12u10", "libc6:i386": "2.36-9+deb12u10",
                                       "distroless": "1.0"}  # status.d files carry no Status
    assert parse_dpkg_status("") == {}


def test_apk_installed():
    assert parse_apk_installed("C:Q1=\nP:musl\nV:1.2.4-r2\n\nP:noversion\n\nV:1\n") == {"musl": "1.2.4-r2"}
    from distill.analyze.packages.apk import apk_entries

    (e,) = apk_entries("P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1"
                       "\nF:usr/lib\nR:x.so\n")
    assert e["files"] == ["/lib/ld-musl-x86_64.so.1", "/lib/libc.musl-x86_64.so.1", "/usr/lib/x.so"]
    assert (e["arch"], e["license"], e["source"]) == ("x86_64", "MIT", "musl")


def test_metadata_and_names():
    assert parse_metadata("Metadata-Version: 2.1\nName: Foo.Bar_baz\nVersion: 1.0.post1\n\nName: body") == \
        ("Foo.Bar_baz", "1.0.post1")
    assert parse_metadata("Name: x\n") is None
    assert canonical_name("Foo.Bar__baz") == "foo-bar-baz" and canonical_name("Flask") == "flask"


def test_debian_copyright_licences():
    text = ("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            "Upstream-Name: x\n\nFiles: *\nCopyright: 2000 A\nLicense: GPL-2+ or Artistic\n\n"
            "Files: lib/*\nLicense: LGPL-2.1+ and Expat\n\nFiles: doc/*\nLicense: GFDL-NIV-1.3\n\n"
            "Files: a/*\nLicense: GPL-3.0+ with Autoconf-data exception\n\nFiles: b/*\nLicense: public-domain\n\n"
            "License: GPL-2+\n On Debian systems, the full text is in\n /usr/share/common-licenses/GPL-2.\n")
    assert debian_licences(text) == ["GPL-2.0-or-later", "Artistic-1.0-Perl", "LGPL-2.1-or-later", "MIT",
                                     "GFDL-NIV-1.3", "GPL-3.0-or-later"]
    assert debian_licences("This is the Debian prepackaged version of ...\nLicense: GPL-2\n") == []


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not out[-1] & 0x80:
            return bytes(out)


def test_go_build_info():
    import io

    from distill.analyze.packages.go import GO_MAGIC, go_buildinfo, go_modules

    info = ("path\texample.com/app\nmod\texample.com/app\tv1.2.0\th1:x=\n"
            "dep\tgolang.org/x/net\tv0.7.0\th1:y=\ndep\tgithub.com/old/dep\tv1.0.0\n=>\tgithub.com/new/dep\tv1.1.0\th1:z=\n"
            "build\tGOOS=linux\n")
    mod = b"\x00" * 16 + info.encode() + b"\x00" * 16
    header = GO_MAGIC + bytes([8, 2]) + b"\x00" * 16
    blob = header + _uvarint(8) + b"go1.22.4" + _uvarint(len(mod)) + mod
    # a stray magic off the 16-byte grid first, and the real one straddling a read boundary
    data = b"\x7fELF" + b"\x00" * 3 + GO_MAGIC + b"\x00" * ((1 << 20) - 25 - len(GO_MAGIC))
    data += b"\x00" * (-len(data) % 16) + blob
    version, got = go_buildinfo(io.BytesIO(data))
    assert version == "go1.22.4" and got == info
    assert [(m["name"], m["version"]) for m in go_modules(version, got)] == [
        ("stdlib", "1.22.4"), ("example.com/app", "v1.2.0"), ("golang.org/x/net", "v0.7.0"),
        ("github.com/new/dep", "v1.1.0")]
    old = GO_MAGIC + bytes([8, 0]) + b"\x00" * 16  # before Go 1.18: pointers, not read
    assert go_buildinfo(io.BytesIO(old + b"\x00" * 64)) is None
    assert go_buildinfo(io.BytesIO(b"\x7fELF" + b"\x00" * 100)) is None


def test_java_archives():
    import io
    import zipfile

    from distill.analyze.packages.java import jar_packages
    from distill.analyze.sbom import purl

    def jar(files):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, text in files.items():
                z.writestr(name, text)
        return buf.getvalue()

    shaded = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nImplementation-Title: app\r\n",
                  "META-INF/maven/org.example/app/pom.properties": "#Generated\ngroupId=org.example\n"
                                                                    "artifactId=app\nversion=1.4.2\n",
                  "META-INF/maven/com.google.guava/guava/pom.properties": "version=31.1-jre\ngroupId=com.google.guava"
                                                                          "\nartifactId=guava\n"})
    assert sorted((p["name"], p["version"]) for p in jar_packages(shaded)) == \
        [("com.google.guava:guava", "31.1-jre"), ("org.example:app", "1.4.2")]
    manifest_only = jar({"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\r\nBundle-SymbolicName: org.example.lo\r\n"
                                                 " ng;singleton:=true\r\nBundle-Version: 2.0.1\r\n\r\nName: x\r\n"
                                                 "Implementation-Version: 9\r\n"})
    assert jar_packages(manifest_only) == [{"name": "org.example.long", "version": "2.0.1"}]
    assert jar_packages(b"not a zip") == [] and jar_packages(jar({"a.txt": "x"})) == []
    assert purl({"type": "java", "name": "com.google.guava:guava", "version": "31.1-jre"}, {}) == \
        "pkg:maven/com.google.guava/guava@31.1-jre"



def test_rpm_headers_are_bounded():
    import struct

    from distill.analyze.packages.rpm import rpm_entries, rpm_header

    data = b"pkg\x001.0\x00"
    blob = struct.pack(">ii", 2, len(data)) + struct.pack(">iiii", 1000, 6, 0, 1) + struct.pack(">iiii", 1001, 6, 4, 1)
    assert rpm_header(blob + data) == {"name": "pkg", "version": "1.0"}
    lying = struct.pack(">ii", 2, 10_000) + blob[8:] + data  # claims more data than there is
    for bad in (b"", lying, struct.pack(">ii", -1, 0)):
        try:
            rpm_header(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    out_of_range = struct.pack(">ii", 1, len(data)) + struct.pack(">iiii", 1000, 6, 999, 1) + data
    assert rpm_header(out_of_range) == {}
    assert rpm_entries(b"not sqlite") == []


def test_an_rpm_header_that_claims_endless_strings_is_read_within_its_data():
    """99,999 index entries each claiming 2^31-1 strings over 1 MiB of NULs: the strings
    read are bounded by the data (the reading was 10^11 steps), a tag named twice is read
    once, and what a sound entry says is still read."""
    import struct

    from distill.analyze.packages.rpm import rpm_header

    size = 1 << 20
    data = b"bash\0" + b"\0" * (size - 5)
    entries = struct.pack(">iiii", 1000, 6, 0, 1) + b"".join(
        struct.pack(">iiii", 1117, 8, 0, 0x7FFFFFFF) for _ in range(99_999))
    h = rpm_header(struct.pack(">ii", 100_000, size) + entries + data)
    assert h["name"] == "bash"
    assert len(h["basenames"]) == 1 + (size - 5)  # "bash", then one empty string a NUL: the data ends
