"""Package URLs and licences as the SBOM writes them."""

from distill.analyze.sbom import purl

DEBIAN = {"ID": "debian", "VERSION_ID": "12"}


def test_purls():
    deb = {"type": "dpkg", "name": "libc6", "version": "2.36-9+deb12u10", "arch": "amd64", "source": "glibc"}
    assert purl(deb, DEBIAN) == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u10?arch=amd64&distro=debian-12&upstream=glibc"
    same = {**deb, "name": "bash", "source": "bash", "version": "5.2.15-2+b7"}
    assert purl(same, DEBIAN) == "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12"
    apk = {"type": "apk", "name": "musl", "version": "1.2.4-r2", "arch": "x86_64", "source": "musl"}
    assert purl(apk, {"ID": "alpine", "VERSION_ID": "3.19.1"}) == \
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    assert purl({"type": "python", "name": "Flask_Login", "version": "0.6.3"}, {}) == "pkg:pypi/flask-login@0.6.3"
    assert purl({"type": "npm", "name": "@babel/core", "version": "7.24.0"}, {}) == "pkg:npm/%40babel/core@7.24.0"
    assert purl({"type": "npm", "name": "lodash", "version": "4.17.21"}, {}) == "pkg:npm/lodash@4.17.21"
