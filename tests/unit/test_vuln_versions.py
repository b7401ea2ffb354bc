"""Version orders and OSV ranges on the tricky cases each ecosystem has."""

import pytest

from distill.analyze.vuln.osv import affects, cvss3_score, severity
from distill.analyze.vuln.versions import apk_compare, dpkg_compare, pep440_compare, semver_compare


@pytest.mark.parametrize("low, high", [
    # deb-version(7) and Debian policy 5.6.12: ~ sorts before everything, even the end
    ("1.0~rc1", "1.0"), ("1.0~~", "1.0~"), ("1.0", "1.0+b1"), ("1.0-1", "1.0-1+deb12u1"),
    ("2.36-9+deb12u9", "2.36-9+deb12u10"), ("1:0.1", "2:0.0"), ("9.9", "1:0.1"), ("1.0a", "1.0b"),
    ("1.0", "1.0a"), ("1.0-1", "1.0-2"), ("1.0-9", "1.0-10"), ("1.2.3", "1.2.10"), ("1.0a", "1.0+"),
    ("3.0.11-1~deb12u2", "3.0.11-1~deb12u3"), ("3.0.11-1~deb12u3", "3.0.11-1"), ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
])
def test_dpkg_order(low, high):
    assert dpkg_compare(low, high) < 0 < dpkg_compare(high, low)


@pytest.mark.parametrize("a, b", [("1.0", "1.00"), ("0:1.0", "1.0"), ("1.0-0", "1.0"), ("01.1", "1.1")])
def test_dpkg_equal(a, b):
    assert dpkg_compare(a, b) == 0


@pytest.mark.parametrize("low, high", [
    ("1.2.4-r1", "1.2.4-r2"), ("1.2.4_rc1-r0", "1.2.4-r0"), ("1.2.4_alpha1", "1.2.4_beta1"), ("1.2.4", "1.2.4_p1"),
    ("1.2.4", "1.2.4a"), ("1.9", "1.10"), ("1.2.4_pre2", "1.2.4_rc1"), ("3.0.8-r0", "3.0.12-r0"),
])
def test_apk_order(low, high):
    assert apk_compare(low, high) < 0 < apk_compare(high, low)


@pytest.mark.parametrize("low, high", [
    ("1.0.dev1", "1.0a1"), ("1.0a1", "1.0rc1"), ("1.0rc1", "1.0"), ("1.0", "1.0.post1"), ("1.0", "1.0+local"),
    ("1.0", "1!0.1"), ("1!0.1", "2!0.0"), ("2.3.3", "2.3.4"), ("2.3.10", "2.10"),
])
def test_pep440_order(low, high):
    assert pep440_compare(low, high) < 0 < pep440_compare(high, low)


@pytest.mark.parametrize("low, high", [
    ("1.0.0-alpha", "1.0.0-alpha.1"), ("1.0.0-alpha.1", "1.0.0-alpha.beta"), ("1.0.0-beta.2", "1.0.0-beta.11"),
    ("1.0.0-rc.1", "1.0.0"), ("1.9.0", "1.10.0"), ("v1.2.3", "1.2.4"),
])
def test_semver_order(low, high):
    assert semver_compare(low, high) < 0 < semver_compare(high, low)
    assert semver_compare("1.0.0+build.1", "1.0.0+build.2") == 0  # build metadata does not order


def test_unreadable_versions_raise():
    for compare, bad in ((dpkg_compare, "abc"), (apk_compare, "1.0-beta"), (pep440_compare, "one"),
                         (semver_compare, "1.0")):
        with pytest.raises(ValueError):
            compare(bad, "1.0.0")


def rng(*events, kind="ECOSYSTEM"):
    return {"ranges": [{"type": kind, "events": [dict([e]) for e in events]}]}


def test_osv_ranges():
    a = rng(("introduced", "0"), ("fixed", "2.36-9+deb12u4"))
    assert affects(a, "2.36-9+deb12u3", dpkg_compare) and not affects(a, "2.36-9+deb12u4", dpkg_compare)
    assert not affects(a, "2.36-9+deb12u10", dpkg_compare)  # 10 > 4: numeric, not text
    two = {"ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.2"}, {"introduced": "2.0"},
                                                       {"fixed": "2.1"}]}]}
    assert [affects(two, v, pep440_compare) for v in ("0.9", "1.0", "1.1", "1.2", "1.5", "2.0", "2.0.5", "2.1")] == \
        [False, True, True, False, False, True, True, False]
    last = rng(("introduced", "1.0.0"), ("last_affected", "1.4.2"), kind="SEMVER")
    assert affects(last, "1.4.2", semver_compare) and not affects(last, "1.4.3", semver_compare)
    open_ended = rng(("introduced", "3.0"))
    assert affects(open_ended, "9.9", pep440_compare) and not affects(open_ended, "2.9", pep440_compare)
    listed = {"versions": ["1.0.1", "1.0.3"], "ranges": [{"type": "GIT", "events": [{"introduced": "abc"}]}]}
    assert affects(listed, "1.0.3", semver_compare) and not affects(listed, "1.0.2", semver_compare)
    assert not affects(rng(("introduced", "0"), ("fixed", "1.0")), "not a version", pep440_compare)
    limited = rng(("introduced", "0"), ("limit", "2.0"))
    assert affects(limited, "1.5", pep440_compare) and not affects(limited, "2.5", pep440_compare)


def test_severity_and_cvss():
    assert cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == 9.8
    assert cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H") == 10.0
    assert cvss3_score("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N") == 5.5
    assert cvss3_score("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N") == 3.1
    assert cvss3_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N") == 0.0
    assert cvss3_score("nonsense") is None
    assert severity({"severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}) == \
        "critical"
    assert severity({"database_specific": {"severity": "MODERATE"}}) == "medium"
    assert severity({}) == "unknown"
