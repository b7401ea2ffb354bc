"""The start-up rules `distill check` applies: id → (severity, what it means). error: the
process will not start; warning: it may fail once running; info: worth knowing."""

RULES = {
    "no-command": ("error", "the image has no ENTRYPOINT or CMD: there is nothing to start"),
    "shell-missing": ("error", "the shell form needs a shell the image lacks"),
    "not-on-path": ("error", "executable file not found in $PATH"),
    "not-found": ("error", "no such file in the image"),
    "dangling-symlink": ("error", "a symlink to nothing"),
    "not-a-file": ("error", "not a regular file"),
    "no-exec-bit": ("error", "permission denied: no execute bit for the user"),
    "user-unknown": ("error", "unable to find the user in /etc/passwd"),
    "group-unknown": ("error", "unable to find the group in /etc/group"),
    "shebang-crlf": ("error", "the #! line ends in CR (a Windows line end): the kernel looks for 'sh\\r'"),
    "interpreter-missing": ("error", "the #! interpreter is not in the image"),
    "interpreter-loop": ("error", "#! interpreters nested past the kernel's bound (a cycle): execve fails with ELOOP"),
    "env-target-missing": ("error", "#!/usr/bin/env NAME: NAME is not on PATH"),
    "exec-format": ("error", "exec format error: neither a #! script nor an ELF program"),
    "elf-arch": ("error", "exec format error: an ELF program for another architecture"),
    "elf-interp-missing": ("error", "the ELF program interpreter (dynamic loader) is not in the image"),
    "library-missing": ("error", "a shared library the program needs is not where the loader looks"),
    "symbol-version-missing": ("error", "a library lacks a symbol version the program needs (glibc too old)"),
    "command-not-found": ("error", "the shell will not find the command (exit 127)"),
    "python-stdlib-missing": ("error", "the Python that runs has no standard library where it looks for one"),
    "python-file-missing": ("error", "python FILE: the file is not in the image"),
    "python-module-missing": ("error", "python -m MODULE: the module is not on sys.path"),
    "import-missing": ("error", "a module the program imports as it starts is not on sys.path"),
    "import-optional-missing": ("warning", "a module imported in a function, a branch or a try that handles "
                                           "ImportError is not on sys.path"),
    "wheel-incompatible": ("error", "an installed wheel the program imports was built for another Python or "
                                    "C library"),
    "wheel-incompatible-unused": ("warning", "an installed wheel was built for another Python or C library "
                                             "(not imported at start)"),
    "node-file-missing": ("error", "node FILE: the file is not in the image (Cannot find module)"),
    "npm-script-missing": ("error", "npm start / npm run NAME: package.json or its script is missing"),
    "node-module-missing": ("error", "a module the program requires at the top level is in no node_modules "
                                     "directory Node searches"),
    "java-jar-missing": ("error", "java -jar FILE: the jar is not in the image or is no zip"),
    "java-no-main-class": ("error", "java -jar FILE: the jar's manifest names no Main-Class"),
    "java-class-missing": ("error", "the main class is in neither the jar, its Class-Path nor the class path"),
    "workdir-missing": ("info", "WORKDIR does not exist: runc creates it, empty"),
}

# ELF e_machine numbers of the architectures images are built for (ANALYSIS-FACTS §2)
MACHINES = {"amd64": 62, "arm64": 183, "arm": 40, "386": 3, "ppc64le": 21, "s390x": 22, "riscv64": 243}
