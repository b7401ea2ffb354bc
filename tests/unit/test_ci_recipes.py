"""docs/ci/: the CI recipes are valid where they will run (the Kubernetes Job against the
Kubernetes API schema, offline), ask for no more than the container tests give distill's
image (tests/e2e/test_own_image.py), and call distill with flags its own parser takes."""

import re
import shlex
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from bed.docker import UNCONFINED
from distill.cli.main import parse_command

CI = Path(__file__).resolve().parents[2] / "docs" / "ci"


def distill_args(script: str) -> list[str]:
    """The arguments of the `distill` command in a job's shell script (a GitHub
    expression, `${{ … }}`, stands for one word)."""
    script = re.sub(r"\$\{\{[^}]*\}\}", "VALUE", script)
    words = shlex.split(script.replace("\\\n", " "), comments=True)
    return words[words.index("distill") + 1:]


def parses(args: list[str]) -> None:
    handler, parsed = parse_command(args)
    assert handler.__name__ == "build" and parsed.cache_to and parsed.cache_from and parsed.outputs


def test_the_kubernetes_job_is_valid_and_unprivileged():
    job = yaml.safe_load((CI / "kubernetes-job.yaml").read_text())
    kubernetes_validate.validate(job, "1.30.0", strict=True)  # raises on any unknown or mistyped field
    (container,) = job["spec"]["template"]["spec"]["containers"]
    context = container["securityContext"]
    assert context == {"privileged": False, "seccompProfile": {"type": "Unconfined"},
                       "appArmorProfile": {"type": "Unconfined"}}
    parses(container["args"])
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/lib/distill" in mounts  # the store off the container's overlay


def test_a_broken_job_is_caught():
    job = yaml.safe_load((CI / "kubernetes-job.yaml").read_text())
    job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["seccompProfile"] = "Unconfined"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, "1.30.0", strict=True)


def test_the_github_job_runs_distill_as_the_container_tests_do():
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    job = workflow["jobs"]["build"]
    assert job["container"]["options"].split() == list(UNCONFINED)
    parses(distill_args(job["steps"][-1]["run"]))


def test_the_gitlab_job_runs_distill():
    pipeline = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    script = pipeline["build-image"]["script"][-1]
    parses(distill_args(script))
    # the runner's options, as its comment gives them, are the container tests' own
    text = (CI / "gitlab-ci.yml").read_text()
    assert 'security_opt = ["seccomp:unconfined", "apparmor:unconfined"]' in text
