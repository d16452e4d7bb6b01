"""woollama as a user installs it: the built wheel and sdist, and `make user-install`.

Each artifact goes into a fresh venv and runs from that venv's bin, from a temporary
directory and without PYTHONPATH, so a module or file missing from the artifact fails
here even though the source tree has it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.harness import STARTUP_TIMEOUT, Woollama, base_env, read_line

REPO = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).parent / "uv"  # the one the Makefile pins, installed beside pytest
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
STEP_TIMEOUT = 60.0  # one build or install; uv's cache makes each take seconds
MCP_TIMEOUT = 30.0
# Build output and caches a checkout may hold: copied, they would slow the copy or leak
# stale files into the artifacts.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv*", "node_modules", "__pycache__", "*.egg-info", ".*_cache", ".hypothesis",
    "build", "dist", ".cache",
)  # fmt: skip
# Variables through which the developer's shell or an outer `make` would leak into the
# installs and the installed program.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


@dataclass(frozen=True)
class Built:
    source: Path  # the copy of the checkout the artifacts were built from
    wheel: Path
    sdist: Path


def clean_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    cleaned = {k: v for k, v in env.items() if k not in LEAKY and not k.startswith("UV_TOOL_")}
    # The interpreter the suite runs on, and never a download of another one.
    cleaned.update(UV_PYTHON=sys.executable, UV_PYTHON_DOWNLOADS="never", **extra)
    return cleaned


def run(cmd: list[str | Path], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(part) for part in cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{cmd} exited {result.returncode}\n{result.stdout}{result.stderr}"
    )
    return result


def user_env(root: Path) -> dict[str, str]:
    """What the installed woollama runs with: temporary dirs, no local Ollama reached."""
    from tests.surfaces.conftest import closed_port

    (root / "run").mkdir(parents=True, exist_ok=True)
    env = base_env(root, {"WOOLLAMA_OLLAMA_URL": f"http://127.0.0.1:{closed_port()}"})
    return clean_env(env)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("build")
    # setuptools writes build/ and *.egg-info beside the sources: in a copy, they stay
    # out of the working tree.
    source = root / "woollama"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    dist = root / "dist"
    # Both straight from the tree; installing the sdist then builds a wheel from it.
    run([UV, "build", "--sdist", "--wheel", "--out-dir", dist], source, clean_env(dict(os.environ)))
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    return Built(source, wheel, sdist)


@pytest.fixture(scope="module", params=["wheel", "sdist"])
def venv(
    request: pytest.FixtureRequest, built: Built, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A fresh venv holding the locked runtime dependencies and one built artifact."""
    root = tmp_path_factory.mktemp(f"venv-{request.param}")
    venv = root / "venv"
    env = clean_env(dict(os.environ))
    run([UV, "venv", venv], root, env)
    python = venv / "bin" / "python"
    lock = REPO / "requirements.lock"
    run([UV, "pip", "install", "--python", python, "--require-hashes", "-r", lock], root, env)
    artifact = built.wheel if request.param == "wheel" else built.sdist
    run([UV, "pip", "install", "--python", python, "--no-deps", artifact], root, env)
    return venv


@contextlib.contextmanager
def serving(venv: Path, root: Path) -> Iterator[Woollama]:
    """The venv's `woollama` serving, stopped on the way out."""
    env = user_env(root)
    log_path = root / "woollama.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [venv / "bin" / "woollama"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    server = Woollama(proc, root / "config", root / "run", log_path, env=env)
    try:
        banner = read_line(proc, STARTUP_TIMEOUT)
        assert banner.startswith("woollama listening: "), f"no banner: {banner!r}\n{server.log()}"
        server.address = server.address_file.read_text().strip()
        yield server
    finally:
        server.stop(signal.SIGTERM)


def source_files(built: Built) -> set[str]:
    """The installed path of every module and bundled file the checkout has."""
    package = built.source / "src" / "woollama"
    examples = built.source / "examples"
    found = {f"woollama/{p.relative_to(package)}" for p in package.rglob("*.py")}
    found |= {f"woollama/config/defaults/{p.name}" for p in (package / "config/defaults").iterdir()}
    static = package / "surfaces/status/static"
    found |= {f"woollama/surfaces/status/static/{p.name}" for p in static.iterdir()}
    return found | {f"woollama_examples/{p.name}" for p in examples.glob("*.py")}


def test_the_wheel_holds_every_module_and_bundled_file_of_the_checkout(built: Built):
    names = set(zipfile.ZipFile(built.wheel).namelist())
    expected = source_files(built)
    assert "woollama/surfaces/openai/routes.py" in expected  # the walk found the sub-packages
    assert sorted(expected - names) == []
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]


def test_the_sdist_holds_what_a_wheel_is_built_from_and_not_the_tests(built: Built):
    with tarfile.open(built.sdist) as sdist:
        names = {name.partition("/")[2] for name in sdist.getnames()}
    wheel_side = {
        f"src/{name}" if name.startswith("woollama/") else f"examples/{name.partition('/')[2]}"
        for name in source_files(built)
    }
    assert sorted(wheel_side - names) == []
    assert {"pyproject.toml", "setup.py", "README.md"} <= names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]


def test_the_installed_package_is_the_venvs_own(venv: Path, tmp_path: Path):
    probe = (
        "import woollama, woollama_examples\n"
        "print(woollama.__file__, woollama_examples.__file__, woollama.__version__, sep='\\n')"
    )
    out = run([venv / "bin" / "python", "-c", probe], tmp_path, user_env(tmp_path)).stdout
    package, examples, version = out.splitlines()
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert Path(package).is_relative_to(site / "site-packages")
    assert Path(examples).is_relative_to(site / "site-packages")
    assert version == VERSION
    result = run([venv / "bin" / "woollama", "--version"], tmp_path, user_env(tmp_path))
    assert result.stdout.strip() == f"woollama {VERSION}"


def test_the_installed_woollama_serves_models_with_its_bundled_recipes(venv: Path, tmp_path: Path):
    with serving(venv, tmp_path) as server:
        raw = server.client().models.with_raw_response.list()
    assert raw.status_code == 200
    ids = {model.id for model in raw.parse().data}
    assert {"woollama/streamer", "woollama/textcounter"} <= ids


def test_the_installed_woollama_serves_its_status_page(venv: Path, tmp_path: Path):
    with serving(venv, tmp_path) as server, server.http() as http:
        page = http.get("/")
        script = http.get("/static/app.js")
    assert page.status_code == 200 and "<title>woollama</title>" in page.text
    assert script.status_code == 200 and "/v1/status" in script.text


async def test_the_installed_woollama_mcp_offers_the_bundled_tools_and_chat(
    venv: Path, tmp_path: Path
):
    params = StdioServerParameters(
        command=str(venv / "bin" / "woollama"),
        args=["mcp"],
        env=user_env(tmp_path),
        cwd=str(tmp_path),
    )
    with anyio.fail_after(MCP_TIMEOUT):
        # Legacy mode: the classic initialize handshake, as most MCP clients still do it.
        async with Client(params, mode="legacy") as client:
            assert client.server_info is not None
            assert client.server_info.name == "woollama"
            names = {tool.name for tool in (await client.list_tools()).tools}
    # hello__hello proves the bundled hello server ran from the installed examples.
    assert {"hello__hello", "chat"} <= names


def test_make_user_install_puts_a_working_woollama_in_the_tool_bin_dir(
    built: Built, tmp_path: Path
):
    tools, bin_dir = tmp_path / "tools", tmp_path / "bin"
    env = clean_env(dict(os.environ), UV_TOOL_DIR=str(tools), UV_TOOL_BIN_DIR=str(bin_dir))
    # PY and UV name the suite's venv, which exists, so make creates no venv of its own.
    make = ["make", "user-install", f"PY={sys.executable}", f"UV={UV}"]
    result = run(make, built.source, env)
    assert "llama-cpp" not in result.stdout + result.stderr  # no test engine was built

    woollama = bin_dir / "woollama"
    root = tmp_path / "user"
    version = run([woollama, "--version"], tmp_path, user_env(root))
    assert version.stdout.strip() == f"woollama {VERSION}"
    check = run([woollama, "check-config"], tmp_path, user_env(root))
    lines = check.stdout.splitlines()
    assert lines[-1] == "ok"
    for kind in ("inferencers.toml", "recipes.toml", "mcp.json"):
        assert f"  {kind}: bundled" in lines
    assert any(line.startswith("  woollama/streamer: ") for line in lines)
    # The bundled servers run on the tool's own interpreter, not the suite's.
    (hello,) = [line for line in lines if line.startswith("  hello: stdio ")]
    assert hello.removeprefix("  hello: stdio ").startswith(str(tools / "woollama"))
