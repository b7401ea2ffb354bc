"""distill lint: each rule on a Dockerfile that breaks it and on one that does not, the
stage-aware rules on builder and final stages, and the ignore comments and directives."""

import pytest

from distill.analyze.lint import RULES, lint

F = "FROM debian:12.5\n"
B = "FROM debian:12.5 AS build\n"

# rule: (a Dockerfile that breaks it, the line it is reported at, one that does not)
CASES = {
    "stage-name-casing": ("FROM debian:12.5 AS Build\n", 1, B),
    "from-as-casing": ("FROM debian:12.5 as build\n", 1, B),
    "empty-continuation": (F + "RUN echo a \\\n\n    b\n", 2, F + "RUN echo a \\\n    b\n"),
    "instruction-casing": (F + "RUN true\nrun true\nRUN true\n", 3, F + "RUN true\n"),
    "unknown-instruction": (F + "COPPY a.c .\n", 2, F + "COPY a.c .\n"),
    "duplicate-stage-name": (B + "RUN true\n" + B, 3, B + "FROM debian:12.5 AS final\n"),
    "reserved-stage-name": ("FROM debian:12.5 AS scratch\n", 1, B),
    "json-args-recommended": (F + "CMD python3 app.py\n", 2, F + 'CMD ["python3", "app.py"]\n'),
    "maintainer-deprecated": (F + "MAINTAINER me\n", 2, F + "LABEL org.opencontainers.image.authors=me\n"),
    "workdir-relative": (F + "WORKDIR app\n", 2, F + "WORKDIR /app\nWORKDIR $HOME/sub\n"),
    "multiple-instructions": (F + 'CMD ["a"]\nCMD ["b"]\n', 3, F + 'CMD ["a"]\n' + F + 'CMD ["b"]\n'),
    "legacy-key-value": (F + "ENV A 1\n", 2, F + "ENV A=1\n"),
    "expose-proto-casing": (F + "EXPOSE 53/UDP\n", 2, F + "EXPOSE 53/udp\n"),
    "expose-invalid-format": (F + "EXPOSE 0.0.0.0:80:80\n", 2, F + "EXPOSE 80\n"),
    "invalid-port": (F + "EXPOSE 80000\n", 2, F + "EXPOSE 8000\n"),
    "secrets-in-arg-env": (F + "ARG DB_PASSWORD\n", 2, F + "ARG DB_HOST\n"),
    "undefined-arg-in-from": ("FROM debian:${TAG}\n", 1, "ARG TAG=12.5\nFROM debian:${TAG}\n"),
    "cd-in-run": (F + "RUN cd /tmp && make\n", 2, F + "WORKDIR /tmp\nRUN make\n"),
    "sudo": (F + "RUN sudo make install\n", 2, F + "RUN make install\n"),
    "untagged-image": ("FROM debian\n", 1, F),
    "latest-tag": ("FROM debian:latest\n", 1, F),
    "apt-unpinned": (F + "RUN apt-get install -y --no-install-recommends curl\n", 2,
                     F + "RUN apt-get install -y --no-install-recommends curl=7.88.1-10\n"),
    "apt-lists-kept": (F + "RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10\n", 2,
                       F + "RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88.1-10 "
                           "&& rm -rf /var/lib/apt/lists/*\n"),
    "pip-unpinned": (F + "RUN pip install --no-cache-dir flask\n", 2,
                     F + "RUN pip install --no-cache-dir flask==3.0.3 && pip install --no-cache-dir -r req.txt\n"),
    "apt-no-yes": (F + "RUN apt-get install --no-install-recommends curl=1\n", 2,
                   F + "RUN apt-get -qy install --no-install-recommends curl=1\n"),
    "apt-recommends": (F + "RUN apt-get install -y curl=1\n", 2, F + "RUN apt-get install -y --no-install-recommends "
                                                                     "curl=1\n"),
    "add-for-copy": (F + "ADD app.py /app/\n", 2, F + "ADD https://example.com/a.tgz /a.tgz\nADD rootfs.tar.gz /\n"),
    "copy-dest-slash": (F + "COPY a b /app\n", 2, F + "COPY a b /app/\n"),
    "copy-from-undefined": (F + "COPY --from=biuld /out /out\n", 2,
                            B + "RUN true\n" + F + "COPY --from=build /out /out\nCOPY --from=0 /x /x\n"
                                                   "COPY --from=nginx:1.25 /etc/nginx /etc/nginx\n"),
    # (an image named without a tag, --from=docker/cli, is flagged too: hadolint does the same)
    "copy-whole-filesystem": (B + "RUN true\n" + F + "COPY --from=build / /\n", 4,
                              B + "RUN true\n" + F + "COPY --from=build /out /out\n"),
    "copy-from-self": (B + "COPY --from=build /a /b\n", 2, B + "RUN true\n" + F + "COPY --from=build /a /b\n"),
    "apt-not-apt-get": (F + "RUN apt install -y curl\n", 2, F + "RUN apt-get install -y --no-install-recommends "
                                                                  "curl=1\n"),
    "pip-cache": (F + "RUN pip install flask==3.0.3\n", 2, F + "ENV PIP_NO_CACHE_DIR=1\nRUN pip install flask==3.0.3\n"
                                                              "RUN --mount=type=cache,target=/root/.cache/pip pip "
                                                              "install flask==3.0.3\n"),
    "copy-relative-no-workdir": (F + "COPY app.py app.py\n", 2, F + "WORKDIR /app\nCOPY app.py app.py\n"),
    "consecutive-run": (F + "RUN true\nRUN false\n", 3, F + "RUN true && false\nRUN a && b\nRUN c\n"),
    "pipefail": (F + "RUN curl -s https://x | sh\n", 2,
                 F + 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN curl -s https://x | sh\nRUN a || b\n'),
    "pointless-command": (F + "RUN service nginx start\n", 2, F + "RUN nginx -t\n"),
    "npm-unpinned": (F + "RUN npm install express\n", 2, F + "RUN npm install express@4.19.2 && npm install\n"),
    "apk-unpinned": ("FROM alpine:3.20\nRUN apk add --no-cache curl\n", 2,
                     "FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0\n"),
    "apk-cache": ("FROM alpine:3.20\nRUN apk add curl=8.9.1-r0\n", 2,
                  "FROM alpine:3.20\nRUN apk add --no-cache curl=8.9.1-r0\n"),
    "gem-unpinned": (F + "RUN gem install rake\n", 2, F + "RUN gem install rake:13.2.1\n"),
    "from-platform": ("FROM --platform=linux/amd64 debian:12.5\n", 1,
                      "FROM --platform=$BUILDPLATFORM debian:12.5\n"),
    "yum-no-yes": ("FROM rockylinux:9\nRUN yum install httpd-2.4.57 && yum clean all\n", 2,
                   "FROM rockylinux:9\nRUN yum install -y httpd-2.4.57 && yum clean all\n"),
    "yum-clean": ("FROM rockylinux:9\nRUN yum install -y httpd-2.4.57\n", 2,
                  "FROM rockylinux:9\nRUN yum install -y httpd-2.4.57 && yum clean all\n"),
    "yum-unpinned": ("FROM rockylinux:9\nRUN yum install -y httpd && yum clean all\n", 2,
                     "FROM rockylinux:9\nRUN yum install -y httpd-2.4.57 && yum clean all\n"),
    "dnf-no-yes": ("FROM fedora:40\nRUN dnf install httpd-2.4.57 && dnf clean all\n", 2,
                   "FROM fedora:40\nRUN dnf install -y httpd-2.4.57 && dnf clean all\n"),
    "dnf-clean": ("FROM fedora:40\nRUN dnf install -y httpd-2.4.57\n", 2,
                  "FROM fedora:40\nRUN dnf install -y httpd-2.4.57 && dnf clean all\n"),
    "dnf-unpinned": ("FROM fedora:40\nRUN dnf install -y httpd && dnf clean all\n", 2,
                     "FROM fedora:40\nRUN dnf install -y httpd-2.4.57 && dnf clean all\n"),
    "zypper-no-yes": ("FROM opensuse/leap:15.6\nRUN zypper install curl=8.0 && zypper clean\n", 2,
                      "FROM opensuse/leap:15.6\nRUN zypper install -y curl=8.0 && zypper clean\n"),
    "zypper-dist-upgrade": ("FROM opensuse/leap:15.6\nRUN zypper dist-upgrade -y\n", 2,
                            "FROM opensuse/leap:15.6\nRUN zypper refresh\n"),
    "zypper-clean": ("FROM opensuse/leap:15.6\nRUN zypper install -y curl=8.0\n", 2,
                     "FROM opensuse/leap:15.6\nRUN zypper install -y curl=8.0 && zypper clean\n"),
    "zypper-unpinned": ("FROM opensuse/leap:15.6\nRUN zypper install -y curl && zypper clean\n", 2,
                        "FROM opensuse/leap:15.6\nRUN zypper install -y curl=8.0 && zypper clean\n"),
    "go-unpinned": (F + "RUN go install golang.org/x/tools/gopls@latest\n", 2,
                    F + "RUN go install golang.org/x/tools/gopls@v0.16.1\n"),
    "onbuild-forbidden": (F + "ONBUILD FROM debian:12.5\n", 2, F + "ONBUILD RUN make\n"),
    "env-self-reference": (F + "ENV A=/opt B=$A/bin\n", 2, F + "ENV A=/opt\nENV B=$A/bin PATH=$PATH:/x\n"),
    "useradd-no-l": (F + "RUN useradd -u 1000000 app\n", 2, F + "RUN useradd -l -u 1000000 app\n"),
    "wget-progress": (F + "RUN wget https://example.com/a\n", 2, F + "RUN wget -q https://example.com/a\n"),
    "label-key-invalid": (F + "LABEL Foo..bar=1\n", 2, F + "LABEL org.example.version=1\n"),
    "yarn-cache": (F + "RUN yarn install\n", 2, F + "RUN yarn install && yarn cache clean\n"),
    "instruction-order": ("RUN true\n" + F, 1, "ARG V=1\n" + F),
    "user-not-numeric": (F + "USER app\n", 2, F + "USER 1000\n"),
    "wget-and-curl": (F + "RUN wget -q https://a/x\nRUN curl -sO https://b/y\n", 3,
                      F + "RUN wget -q https://a/x\nRUN wget -q https://b/y\n"),
    "sh-symlink": (F + "RUN ln -sf /bin/bash /bin/sh\n", 2, F + "RUN ln -s /usr/bin/python3 /usr/bin/python\n"),
    "deps-after-sources": (F + "WORKDIR /app\nCOPY . .\nRUN pip install --no-cache-dir -r requirements.txt\n", 4,
                           F + "WORKDIR /app\nCOPY requirements.txt .\nRUN pip install --no-cache-dir -r "
                               "requirements.txt\nCOPY . .\n"),
    "runs-as-root": (B + "USER app\n" + F, 3, F + "USER 1000\n"),
    "unused-stage": ("FROM debian:12.5 AS docs\nRUN true\n" + B + "RUN true\n" + F + "COPY --from=build /a /a\n",
                     1, B + "RUN true\nFROM build AS test\nRUN true\n" + F + "COPY --from=test /a /a\n"),
    "base-mismatch": ("FROM python:3.12-alpine AS build\nRUN true\nFROM python:3.12-slim\n"
                      "COPY --from=build /venv /venv\n", 4,
                      "FROM python:3.12-slim AS build\nRUN true\nFROM python:3.12-slim-bookworm\n"
                      "COPY --from=build /venv /venv\n"),
    "no-dockerignore": (F + "COPY . /app\n", 2, F + "COPY app.py /app/\n"),
    "redundant-target-platform": ("FROM --platform=$TARGETPLATFORM debian:12.5\n", 1,
                                  "FROM --platform=$BUILDPLATFORM debian:12.5\n"),
    "invalid-default-arg-in-from": ("ARG TAG\nFROM debian:${TAG}\n", 2, "ARG TAG=12.5\nFROM debian:${TAG}\n"),
    "copy-ignored-file": (F + "COPY secret.txt /app/\n", 2, F + "COPY app.py /app/\n"),
    "definition-description": ("# the builder\nFROM debian:12.5 AS build\n", 2,
                               "# build compiles the app\nFROM debian:12.5 AS build\n# a note\n\nFROM build AS b2\n"),
    "undefined-var": (F + "ENV APP=/app\nWORKDIR $APPDIR\n", 3,
                      F + "ARG V=1\nENV APP=/app\nWORKDIR $APP/$V/${X:-x}\nCOPY a $HOME/a\n"
                          "FROM unknown:1\nWORKDIR $FROM_ITS_BASE\n"),
    "base-image-platform": ("FROM debian:12.5-arm64\n", 1, F + "FROM --platform=linux/arm64 debian:12.5-arm64\n"),
    "untrusted-registry": ("FROM quay.io/debian:12.5\n", 1, F + "FROM registry.example.com/debian:12.5\n"),
    "root-user": (F + "USER root\n", 2, F + "USER app\n"),
    "no-healthcheck": (F, 1, F + 'HEALTHCHECK CMD ["true"]\n'),
    "archive-extracted": (F + "COPY app.tar.gz /tmp/\nRUN tar -xzf /tmp/app.tar.gz -C /opt\n", 2,
                          F + "ADD app.tar.gz /opt/\nCOPY b.tar.gz /tmp/\nRUN tar -tzf /tmp/b.tar.gz\n"),
    "ignore-pragma": (F + "# hadolint ignore=DL3059\nRUN true\n", 2, F + "# a comment\nRUN true\n"),
    "label-missing": (F + "LABEL version=1.0.0\n", 1,
                      F + "LABEL version=1.0.0 url=https://example.com/ created=2024-05-01T12:00:00Z license=MIT "
                          "hash=0123abc email=team@example.com team=tools\n"),
    "label-superfluous": (F + "LABEL team=tools other=1\n", 2, F + "LABEL team=tools\n"),
    "label-empty": (F + 'LABEL team=""\n', 2, F + "LABEL team=tools\n"),
    "label-not-url": (F + "LABEL url=example.com\n", 2, F + 'LABEL url="https://example.com/a?b=c&d=%20"\n'),
    "label-not-rfc3339": (F + "LABEL created=2024-05-01\n", 2, F + "LABEL created=2024-05-01T12:00:00.5+02:00\n"),
    "label-not-spdx": (F + "LABEL license=GPLv3\n", 2, F + "LABEL license=Apache-2.0\n"),
    "label-not-git-hash": (F + "LABEL hash=ABC1234\n", 2, F + "LABEL hash=0123456789abcdef0123456789abcdef01234567\n"),
    "label-not-semver": (F + "LABEL version=v1.2.3\n", 2, F + "LABEL version=1.2.3-rc.1+build.5\n"),
    "label-not-email": (F + "LABEL email=team@\n", 2, F + "LABEL email=first.last@example.com\n"),
}


CONTEXT = {"dockerignore": False, "unwanted": [".git", "node_modules"], "biggest": None,
           "dockerignore_text": "secret.txt\n"}


TRUSTED = ["docker.io", "registry.example.com"]
# the label schema every case is linted with (hadolint's label-schema), strict, and DL1001 on
LABELS = {"version": "semver", "url": "url", "created": "rfc3339", "license": "spdx", "hash": "hash",
          "email": "email", "team": "text"}
SWITCHED_ON = {"DL1001": "info"}
BASES = {"debian:12.5": {"env": ["PATH", "HOME"], "platform": "linux/amd64"},
         "debian:12.5-arm64": {"env": ["PATH"], "platform": "linux/arm64"}}


def rules_at(text, **kw):
    kw = {"labels": LABELS, "strict_labels": True, "override": SWITCHED_ON, **kw}
    return {(f["rule"], f["line"]) for f in lint(text, shellcheck=False, context=CONTEXT, trusted=TRUSTED,
                                                 bases=BASES, platform="linux/amd64", **kw)}


def test_every_rule_has_a_case():
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_a_rule_fires_where_it_is_broken_and_not_elsewhere(rule):
    bad, line, good = CASES[rule]
    assert (rule, line) in rules_at(bad), lint(bad, shellcheck=False)
    assert rule not in {r for r, _ in rules_at(good)}, lint(good, shellcheck=False)


def test_rules_about_the_running_image_apply_to_the_final_stage_only():
    text = B + "USER root\nRUN apt-get update && apt-get install -y --no-install-recommends gcc=1\n" \
               "FROM debian:12.5\nUSER app\nHEALTHCHECK CMD [\"true\"]\n"
    assert not {"root-user", "apt-lists-kept"} & {r for r, _ in rules_at(text)}
    # a stage the final one is built FROM ships its layers
    based = text.replace("FROM debian:12.5\nUSER app", "FROM build\nUSER app")
    assert ("apt-lists-kept", 3) in rules_at(based)
    final_root = text.replace("USER app", "USER root")
    assert ("root-user", 5) in rules_at(final_root)
    # --target makes the builder the stage that ships
    assert ("root-user", 2) in rules_at(text, target="build")


def test_ignore_comments_directives_and_options_take_ids_or_aliases():
    bad = F + "# hadolint ignore=DL3007,DL3025\nCMD python3 app.py\n"
    assert "json-args-recommended" not in {r for r, _ in rules_at(bad)}
    assert "json-args-recommended" not in {r for r, _ in rules_at(F + "# distill ignore=json-args-recommended\n"
                                                                 "CMD python3 app.py\n")}
    assert "json-args-recommended" not in {r for r, _ in rules_at("# check=skip=JSONArgsRecommended\n" + F +
                                                                 "CMD python3 app.py\n")}
    assert "json-args-recommended" not in {r for r, _ in rules_at(F + "CMD python3 app.py\n", ignore=("DL3025",))}
    assert "json-args-recommended" in {r for r, _ in rules_at(F + "# a comment\nCMD python3 app.py\n")}


def test_findings_carry_what_the_formats_need():
    (f,) = [f for f in lint(F + "MAINTAINER me\n", "x/Dockerfile", shellcheck=False) if f["rule"] == "maintainer-deprecated"]
    assert f == {"rule": "maintainer-deprecated", "aliases": ["MaintainerDeprecated", "DL4000"],
                 "severity": "warning", "line": 2, "column": 1,
                 "message": "Maintainer instruction is deprecated in favor of using label", "file": "x/Dockerfile"}


def test_python_minor_versions_differ_across_a_copy():
    text = "FROM python:3.12 AS build\nRUN true\nFROM python:3.11-slim\nCOPY --from=build /venv /venv\n"
    (f,) = [f for f in lint(text, shellcheck=False) if f["rule"] == "base-mismatch"]
    assert "glibc, Python 3.12 into one on glibc, Python 3.11" in f["message"]



def test_a_missing_dockerignore_is_reported_at_the_copy_of_the_whole_context():
    text = F + "COPY requirements.txt /app/\nCOPY . /app\n"
    assert {line for rule, line in rules_at(text) if rule == "no-dockerignore"} == {3}


def test_label_schema_is_stage_aware():
    """A builder stage need not carry the labels; the stage that ships, or one it is built
    FROM, must."""
    full = "LABEL version=1.0.0 url=https://example.com/ created=2024-05-01T12:00:00Z license=MIT " \
           "hash=0123abc email=team@example.com team=tools\n"
    assert ("label-missing", 3) not in rules_at(B + "RUN true\nFROM debian:12.5\n" + full)
    assert ("label-missing", 1) not in rules_at(B + "RUN true\nFROM debian:12.5\n" + full)
    assert "label-missing" not in {r for r, _ in rules_at(B + full + "FROM build\n")}
    assert ("label-missing", 3) in rules_at(B + full + "FROM debian:12.5\n")


def test_rules_off_by_default_and_pragmas_switched_off():
    text = F + "RUN true\n# hadolint ignore=DL3059\nRUN true\n"
    assert "ignore-pragma" not in {f["rule"] for f in lint(text, shellcheck=False)}
    assert ("consecutive-run", 4) not in {(f["rule"], f["line"]) for f in lint(text, shellcheck=False)}
    assert ("consecutive-run", 4) in {(f["rule"], f["line"]) for f in lint(text, shellcheck=False, pragmas=False)}


@pytest.mark.parametrize("kind, good, bad", [
    ("url", ["https://example.com", "mailto:a@b.c", "urn:isbn:0451450523", "http://[::1]:80/p?q#f"],
     ["example.com", "", "https://exa mple.com", "1http://x", "http://x/%zz"]),
    ("rfc3339", ["2024-05-01T12:00:00Z", "2024-05-01t12:00:00.123-07:30", "2024-05-01 12:00:00+00:00"],
     ["2024-05-01", "2024-13-01T00:00:00Z", "2024-05-01T12:00:00", "2024-05-01T25:00:00Z", "today"]),
    ("spdx", ["MIT", "Apache-2.0", "GPL-3.0-or-later", "mit"], ["GPLv3", "MIT OR Apache-2.0", "", "LicenseRef-x"]),
    ("hash", ["0123abc", "0123456789abcdef0123456789abcdef01234567"], ["0123ab", "ABCDEF0", "0123abcd", "g123abc"]),
    ("semver", ["1.2.3", "0.0.0", "1.0.0-alpha.1", "1.0.0+20130313144700", "1.0.0-x-y.0+b"],
     ["v1.2.3", "1.2", "01.2.3", "1.2.3-01", "1.2.3-", "1.2.3+"]),
    ("email", ["a@example.com", "first.last+tag@sub.example.org", '"a b"@example.com', "a@[192.0.2.1]"],
     ["a@", "@example.com", "a..b@example.com", "a@-example.com", "a b@example.com"]),
])
def test_label_value_types(kind, good, bad):
    from distill.analyze.lint.labels import TYPES

    test = TYPES[kind][0]
    assert [v for v in good if not test(v)] == []
    assert [v for v in bad if test(v)] == []


def test_an_unknown_instruction_is_an_error_with_the_closest_one():
    found = [f for f in lint("FROM scratch\nCOPPY hello.c .\n") if f["rule"] == "unknown-instruction"]
    assert [(f["line"], f["severity"], f["message"]) for f in found] == [
        (2, "error", "unknown instruction: COPPY; did you mean COPY?")]
    assert RULES["unknown-instruction"].aliases == ("DL1000",)


def test_the_build_refuses_it_the_same_way():
    from distill.build.dockerfile.instructions import from_node
    from distill.build.dockerfile.parser import parse
    from distill.errors import DockerfileError

    node = parse(b"FROM scratch\nWROKDIR /app\n").nodes[1]
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: unknown instruction: WROKDIR; did you mean WORKDIR\?"):
        from_node(node)


@pytest.mark.parametrize("text, rule", [
    (F + "RUN DEBIAN_FRONTEND=noninteractive apt-get install -y curl\n", "apt-unpinned"),
    (F + "RUN FOO=1 BAR=2 pip install flask\n", "pip-unpinned"),
    (F + "HEALTHCHECK CMD curl -f http://x/ || exit 1\n", "json-args-recommended"),
    (F + "ONBUILD RUN apt-get install -y curl\n", "apt-unpinned"),
    (F + "ONBUILD ARG DB_PASSWORD\n", "secrets-in-arg-env"),
    ("FROM fedora:39\nRUN microdnf install curl && microdnf clean all\n", "dnf-no-yes"),
])
def test_commands_behind_assignments_onbuild_and_healthcheck_are_read(text, rule):
    assert (rule, 2) in {(f["rule"], f["line"]) for f in lint(text, shellcheck=False)}
