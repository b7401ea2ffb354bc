"""The lint rules as data: id → (severity, title, explanation with the fix, aliases). An
alias is the hadolint code or BuildKit check name the rule answers to, so an existing
ignore list keeps working."""

from __future__ import annotations

from distill.record import Record

SEVERITIES = ("error", "warning", "info", "style")


class Rule(Record):
    severity: str
    title: str
    explain: str
    aliases: tuple[str, ...] = ()
    enabled: bool = True  # False: reported only when the configuration gives it a severity


RULES = {
    # ---- BuildKit's build checks ----------------------------------------------------------
    "stage-name-casing": Rule("warning", "Stage names should be lowercase",
                              "Stage names are matched case-insensitively and stored lowercased: write them in "
                              "lowercase.", ("StageNameCasing",)),
    "from-as-casing": Rule("warning", "The 'as' keyword should match the case of 'from'",
                           "Write `FROM image AS name` or `from image as name`, not a mix.", ("FromAsCasing",)),
    "empty-continuation": Rule("warning", "Empty continuation lines are deprecated",
                               "An empty line inside a \\-continued instruction will be an error in a future "
                               "Dockerfile syntax: remove it, or make it a comment.", ("NoEmptyContinuation",)),
    "unknown-instruction": Rule("error", "Unknown instruction",
                                "Not an instruction the Dockerfile syntax has: the build stops here. Check its "
                                "spelling.", ("DL1000",)),
    "instruction-casing": Rule("warning", "Instructions should be in consistent casing",
                               "Write every instruction in uppercase (or every one in lowercase).",
                               ("ConsistentInstructionCasing",)),
    "duplicate-stage-name": Rule("error", "Stage names should be unique",
                                 "Two stages with one name: COPY --from and --target reach only one of them. "
                                 "Rename one.", ("DuplicateStageName", "DL3024")),
    "reserved-stage-name": Rule("error", "Reserved words should not be used as stage names",
                                "`scratch` and `context` mean something else to FROM and COPY --from: pick "
                                "another name.", ("ReservedStageName", "DL3063")),
    "json-args-recommended": Rule("warning", "JSON arguments recommended for ENTRYPOINT and CMD",
                                  "The shell form runs the program under /bin/sh -c, which does not pass signals "
                                  "on: the container does not stop on SIGTERM. Write CMD [\"prog\", \"arg\"].",
                                  ("JSONArgsRecommended", "DL3025")),
    "maintainer-deprecated": Rule("warning", "The MAINTAINER instruction is deprecated",
                                  "Use LABEL org.opencontainers.image.authors=\"name\" instead.",
                                  ("MaintainerDeprecated", "DL4000")),
    "workdir-relative": Rule("warning", "Relative WORKDIR paths depend on the one before",
                             "A relative WORKDIR is resolved against the previous one, which a change of base "
                             "image can move: give an absolute path.", ("WorkdirRelativePath", "DL3000")),
    "multiple-instructions": Rule("warning", "Only the last CMD, ENTRYPOINT or HEALTHCHECK of a stage counts",
                                  "The earlier ones are overridden and never run: remove them.",
                                  ("MultipleInstructionsDisallowed", "DL4003", "DL4004", "DL3012")),
    "legacy-key-value": Rule("warning", "ENV and LABEL should use the key=value form",
                             "`ENV key value` is the legacy form, ambiguous with spaces: write ENV key=value.",
                             ("LegacyKeyValueFormat",)),
    "expose-proto-casing": Rule("warning", "Protocols in EXPOSE should be lowercase",
                                "Write EXPOSE 53/udp, not 53/UDP.", ("ExposeProtoCasing",)),
    "expose-invalid-format": Rule("warning", "EXPOSE takes ports, not IP addresses or host ports",
                                  "EXPOSE documents the container's port: `EXPOSE 8080`, not "
                                  "`EXPOSE 0.0.0.0:80:8080` (publish ports with run -p).",
                                  ("ExposeInvalidFormat",)),
    "secrets-in-arg-env": Rule("warning", "Secrets should not be passed in ARG or ENV",
                               "Build arguments and environment variables are kept in the image's history and "
                               "config: use RUN --mount=type=secret.", ("SecretsUsedInArgOrEnv", "DL3064")),
    "undefined-arg-in-from": Rule("warning", "FROM refers to an undefined build argument",
                                  "Declare the ARG before the first FROM to use it in a FROM line.",
                                  ("UndefinedArgInFrom",)),
    "redundant-target-platform": Rule("info", "FROM --platform=$TARGETPLATFORM is the default",
                                      "The platform a stage is built for is $TARGETPLATFORM already: drop the flag.",
                                      ("RedundantTargetPlatform", "DL3065")),
    "invalid-default-arg-in-from": Rule("warning", "A build argument's default leaves FROM without a valid image",
                                        "With the ARG's default (or none) the FROM line names no image: give the "
                                        "ARG a default that makes a valid reference.", ("InvalidDefaultArgInFrom",)),
    "copy-ignored-file": Rule("warning", "COPY names a file .dockerignore excludes",
                              "The file is not in the context sent to the build, so the COPY fails or copies "
                              "nothing: drop it from .dockerignore or from the COPY.", ("CopyIgnoredFile",)),
    "definition-description": Rule("style", "A comment above a stage or ARG should start with its name",
                                   "Write `# name description` above `FROM … AS name` and `ARG name`, so tools can "
                                   "show it.", ("InvalidDefinitionDescription",)),
    "undefined-var": Rule("warning", "A variable used before anything defines it",
                          "The instruction expands a variable no ARG or ENV of the stage, nor its base image, "
                          "defines: it becomes empty. Declare it, or fix the name.", ("UndefinedVar",)),
    "base-image-platform": Rule("warning", "The base image is for another platform",
                                "The image in the store was made for another platform than the build's: RUN steps "
                                "would need emulation and the result is not what was asked for.",
                                ("InvalidBaseImagePlatform",)),
    # ---- hadolint's DL rules ----------------------------------------------------------------
    "cd-in-run": Rule("warning", "Use WORKDIR to switch to a directory",
                      "`cd` in a RUN lasts for that RUN only: use WORKDIR.", ("DL3003",)),
    "sudo": Rule("warning", "Do not use sudo",
                 "sudo has unpredictable TTY and signal behaviour and is not needed: the build runs as root, or "
                 "switch USER.", ("DL3004",)),
    "untagged-image": Rule("warning", "Always tag the version of an image explicitly",
                           "Without a tag FROM takes :latest, which moves: pin a tag or a digest.", ("DL3006",)),
    "latest-tag": Rule("warning", "Using latest is prone to errors",
                       "The image behind :latest changes without notice: pin a version.", ("DL3007",)),
    "apt-unpinned": Rule("warning", "Pin versions in apt-get install",
                         "apt-get install pkg=version makes the build repeatable.", ("DL3008",)),
    "apt-lists-kept": Rule("info", "Delete the apt lists after installing",
                           "/var/lib/apt/lists left in the layer ships 20-40 MB of indexes: end the RUN with "
                           "`&& rm -rf /var/lib/apt/lists/*` (or use a cache mount). Only the shipped stage is "
                           "flagged.", ("DL3009",)),
    "pip-unpinned": Rule("warning", "Pin versions in pip install",
                         "pip install pkg==version (or a requirements/constraints file) makes the build "
                         "repeatable.", ("DL3013",)),
    "apt-no-yes": Rule("warning", "Use apt-get install -y",
                       "Without -y apt-get waits for an answer the build cannot give.", ("DL3014",)),
    "apt-recommends": Rule("info", "Avoid additional packages with --no-install-recommends",
                           "apt-get install --no-install-recommends keeps recommended packages out of the image.",
                           ("DL3015",)),
    "add-for-copy": Rule("error", "Use COPY instead of ADD for files and folders",
                         "ADD also fetches URLs and unpacks archives; for plain files COPY says what happens.",
                         ("DL3020",)),
    "copy-dest-slash": Rule("error", "COPY with more than two arguments needs a destination ending in /",
                            "Several sources go into a directory: end the destination with /.", ("DL3021",)),
    "copy-from-undefined": Rule("warning", "COPY --from should name a stage defined before",
                                "A name that is no earlier stage is pulled as an image: a misspelt stage name "
                                "becomes a registry lookup.", ("DL3022",)),
    "copy-whole-filesystem": Rule("warning", "Do not copy an entire filesystem from another stage",
                                  "COPY --from=X / / brings the other image's whole tree, its package database "
                                  "and all: copy what the program needs.", ("DL3067",)),
    "copy-from-self": Rule("error", "COPY --from cannot name its own stage",
                           "A stage cannot copy from itself: name an earlier stage.", ("DL3023",)),
    "apt-not-apt-get": Rule("warning", "Do not use apt, use apt-get or apt-cache",
                            "apt's interface is for people and may change; apt-get's is for scripts.", ("DL3027",)),
    "pip-cache": Rule("info", "Avoid the pip cache: pip install --no-cache-dir",
                      "pip keeps the downloaded wheels in the layer: add --no-cache-dir, set PIP_NO_CACHE_DIR, or "
                      "use RUN --mount=type=cache,target=/root/.cache/pip.", ("DL3042",)),
    "copy-relative-no-workdir": Rule("warning", "COPY to a relative destination without WORKDIR",
                                     "Where it lands depends on the base image's WORKDIR: set WORKDIR first or give "
                                     "an absolute path.", ("DL3045",)),
    "consecutive-run": Rule("info", "Multiple consecutive RUN instructions",
                            "Each RUN is a layer: consider joining them with &&.", ("DL3059",)),
    "pipefail": Rule("warning", "Set SHELL -o pipefail before RUN with a pipe",
                     "/bin/sh reports only the last command of a pipe: `curl … | sh` succeeds when curl fails. Add "
                     "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"].", ("DL4006",)),
    "pointless-command": Rule("info", "Commands that make no sense in a container",
                              "ssh, vim, shutdown, service, ps, free, top, kill, mount, ifconfig: a build step "
                              "has no terminal, no init and no services.", ("DL3001",)),
    "npm-unpinned": Rule("warning", "Pin versions in npm install",
                         "npm install pkg@version (or from package.json) makes the build repeatable.", ("DL3016",)),
    "apk-unpinned": Rule("warning", "Pin versions in apk add", "apk add pkg=version.", ("DL3018",)),
    "apk-cache": Rule("info", "Use apk add --no-cache",
                      "--no-cache keeps the package index out of the layer.", ("DL3019",)),
    "gem-unpinned": Rule("warning", "Pin versions in gem install", "gem install pkg:version or -v.", ("DL3028",)),
    "from-platform": Rule("warning", "Do not use --platform with FROM",
                          "A fixed platform breaks builds for other platforms: leave it to --platform of the build, "
                          "or use $BUILDPLATFORM/$TARGETPLATFORM.", ("DL3029", "FromPlatformFlagConstDisallowed")),
    "yum-no-yes": Rule("warning", "Use yum install -y", "", ("DL3030",)),
    "yum-clean": Rule("warning", "yum clean all missing after yum install", "", ("DL3032",)),
    "yum-unpinned": Rule("warning", "Pin versions in yum install", "", ("DL3033",)),
    "dnf-no-yes": Rule("warning", "Use dnf install -y", "", ("DL3038",)),
    "dnf-clean": Rule("warning", "dnf clean all missing after dnf install", "", ("DL3040",)),
    "dnf-unpinned": Rule("warning", "Pin versions in dnf install", "", ("DL3041",)),
    "zypper-no-yes": Rule("warning", "Use zypper install -y", "", ("DL3034",)),
    "zypper-dist-upgrade": Rule("warning", "Do not use zypper dist-upgrade",
                                "Upgrade by moving to a newer base image.", ("DL3035",)),
    "zypper-clean": Rule("warning", "zypper clean missing after zypper install", "", ("DL3036",)),
    "zypper-unpinned": Rule("warning", "Pin versions in zypper install", "", ("DL3037",)),
    "go-unpinned": Rule("warning", "Pin versions in go install",
                        "go install pkg@version (not @latest) makes the build repeatable.", ("DL3062",)),
    "onbuild-forbidden": Rule("error", "ONBUILD, FROM or MAINTAINER inside ONBUILD", "", ("DL3043",)),
    "env-self-reference": Rule("error", "An ENV refers to a variable it defines itself",
                               "Within one ENV, the new value is not yet set: split it into two ENV lines.",
                               ("DL3044",)),
    "useradd-no-l": Rule("warning", "useradd without -l and a high UID",
                         "useradd fills /var/log/lastlog and faillog sparsely up to the UID: a high UID makes a "
                         "huge layer. Add -l (--no-log-init).", ("DL3046",)),
    "wget-progress": Rule("info", "wget without --progress bloats the build log",
                          "Use wget --progress=dot:giga (or -q).", ("DL3047",)),
    "label-key-invalid": Rule("style", "Invalid label key",
                              "Label keys are lowercase alphanumerics, dots and dashes, not starting or ending "
                              "with a separator.", ("DL3048",)),
    "archive-extracted": Rule("info", "Use ADD to extract a local archive",
                              "COPY an archive and untar it in a later RUN keeps both the archive and its "
                              "contents in the image: ADD extracts a local tar archive in one layer.", ("DL3010",)),
    "ignore-pragma": Rule("style", "An inline ignore pragma",
                          "`# hadolint ignore=` hides a finding from every later reader; a team that wants "
                          "each exception in the configuration turns this rule on (give DL1001 a severity).",
                          ("DL1001",), enabled=False),
    # ---- the configuration's label schema (label-schema, strict-labels) ----------------------
    "label-missing": Rule("info", "A label the schema requires is missing",
                          "The label schema lists labels the image must carry: set them with LABEL in the stage "
                          "that ships (a builder stage's labels do not reach the image).", ("DL3049",)),
    "label-superfluous": Rule("info", "A label outside the schema",
                              "With strict-labels, only the labels the schema names may be set.", ("DL3050",)),
    "label-empty": Rule("warning", "A label of the schema is empty", "Give it a value, or drop it.", ("DL3051",)),
    "label-not-url": Rule("warning", "A label of type url is not a valid URL",
                          "Write an absolute URL: scheme:rest, as https://example.com/project.", ("DL3052",)),
    "label-not-rfc3339": Rule("warning", "A label of type rfc3339 is not an RFC 3339 time",
                              "Write the time as 2024-05-01T12:00:00Z.", ("DL3053",)),
    "label-not-spdx": Rule("warning", "A label of type spdx is not an SPDX licence identifier",
                           "Use one identifier of the SPDX licence list, as MIT or Apache-2.0.", ("DL3054",)),
    "label-not-git-hash": Rule("warning", "A label of type hash is not a git hash",
                               "Write the commit's hash: 40 (or 7) lowercase hexadecimal digits.", ("DL3055",)),
    "label-not-semver": Rule("warning", "A label of type semver is not a semantic version",
                             "Write MAJOR.MINOR.PATCH, as 1.4.0 or 2.0.0-rc.1.", ("DL3056",)),
    "label-not-email": Rule("warning", "A label of type email is not an email address",
                            "Write an address as RFC 5322 has it: name@example.com.", ("DL3058",)),
    "yarn-cache": Rule("info", "yarn cache clean missing after yarn install", "", ("DL3060",)),
    "instruction-order": Rule("error", "A Dockerfile must begin with FROM, ARG or a comment", "", ("DL3061",)),
    "user-not-numeric": Rule("info", "A non-numeric user may not be resolvable by the host",
                             "Kubernetes' runAsNonRoot can only verify a numeric USER.", ("DL3066",)),
    "wget-and-curl": Rule("warning", "Use either wget or curl, not both",
                          "Two download tools is one too many in an image.", ("DL4001",)),
    "sh-symlink": Rule("warning", "Use SHELL to change the default shell",
                       "Linking /bin/sh to another shell changes every script in the image: use SHELL.",
                       ("DL4005",)),
    # ---- the practices of multi-stage builds --------------------------------------------------
    "deps-after-sources": Rule("warning", "Dependencies are installed after the whole source tree is copied",
                               "COPY . . before the install means every edit of any source file reinstalls every "
                               "dependency. Copy the manifest (requirements.txt, package.json, go.mod, ...) first, "
                               "install, then copy the rest."),
    "runs-as-root": Rule("warning", "The final stage runs as root",
                         "No USER in the stage that ships: the process runs as root. Add a user and USER it (builder "
                         "stages may stay root)."),
    "unused-stage": Rule("info", "A stage nothing uses",
                         "The stage built is neither it nor built FROM it, nor does it COPY --from or RUN "
                         "--mount from it: BuildKit skips it, and it is dead text."),
    "base-mismatch": Rule("warning", "Files cross between stages on different bases",
                          "Installed packages and compiled programs copied from a stage on another C library "
                          "(musl vs glibc) or another Python minor version will not load: build both stages on "
                          "the same family of base."),
    "no-dockerignore": Rule("warning", "No .dockerignore, and the context holds what the image should not",
                            "Without .dockerignore, COPY . . sends and copies .git, node_modules, virtual "
                            "environments, caches: add them to .dockerignore."),
    "untrusted-registry": Rule("error", "FROM names a registry outside the trusted ones",
                               "The configuration lists the registries images may come from (trustedRegistries).",
                               ("DL3026",)),
    "invalid-port": Rule("error", "Valid UNIX ports range from 0 to 65535", "", ("DL3011",)),
    "root-user": Rule("warning", "The final stage runs as root",
                      "The image that ships should run as an unprivileged USER; builder stages may stay root.",
                      ("DL3002",)),
    "no-healthcheck": Rule("style", "The final stage has no HEALTHCHECK",
                           "Without one docker and orchestrators only know whether the process exists.",
                           ("DL3057",)),
}
