"""Every fenced ```bash and ```python block of README.md runs as written from the repo root, so the README and the
code cannot drift apart: each python block on its own in a fresh process, the bash blocks in order in one folder, as
a user pastes them (each in a fresh ``bash``).

Blocks run in a scratch copy of the repo root (its top-level entries linked, ``.venv`` linked to the environment
running the tests, ``../shared`` linked next to it), so relative paths resolve as they do for a user while the files a
snippet writes (``out/``, ``runs/``, ``study.sqlite``) stay out of the worktree; ``$SR4DET_CACHE`` is a scratch folder
and downloads are off. bash blocks run with ``bash -e -o pipefail`` and a ``PATH`` without the environment's
``bin`` folder: a command works only as pasted into a fresh shell after the Quick start, i.e. as ``.venv/bin/...``.

A block is skipped only when marked, on the line(s) just above its fence, with ``<!-- readme-test: skip REASON -->``
where REASON is one of :data:`SKIP_REASONS` (long: minutes or more on a 2-core CPU; gpu; install: changes the
environment; server: runs until stopped), or when a ``../shared`` file it names is missing on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SR4DET_SHARED") or ROOT.parent / "shared")
SKIP_REASONS = ("long", "gpu", "install", "server")
_BLOCK = re.compile(r"^```(bash|python)\n(.*?)^```", re.S | re.M)
_MARK = re.compile(r"<!--\s*readme-test:\s*skip\s+(\S+)[^>]*-->\s*\n(?:\s*\n)?\Z")
_SHARED_PATH = re.compile(r"""(?:^|[\s"'=,])(\.\./shared/[^\s"',]+)""")
#: programs the venv provides: a bash block must call them as .venv/bin/NAME (a fresh shell has no venv on PATH)
_VENV_TOOLS = ("python", "python3", "sr4det", "torchrun", "pip", "pytest", "ruff", "mypy")


def readme_blocks() -> list[tuple[int, str, str, str | None]]:
    """(line of the fence, language, code, skip reason or None) of every ```bash / ```python block."""
    text = (ROOT / "README.md").read_text()
    out = []
    for m in _BLOCK.finditer(text):
        mark = _MARK.search(text[max(0, m.start() - 200) : m.start()])
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), mark.group(1) if mark else None))
    return out


BLOCKS = readme_blocks()


def _commands(code: str) -> list[str]:
    """The command lines of a bash block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", code)
    return [line.split(" #", 1)[0].strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_readme_has_bash_and_python_blocks():
    assert sum(lang == "python" for _, lang, _, _ in BLOCKS) >= 4
    assert sum(lang == "bash" for _, lang, _, _ in BLOCKS) >= 6
    assert sum(skip is None for _, lang, _, skip in BLOCKS if lang == "bash") >= 3  # several are really run


@pytest.mark.parametrize("line,lang,code,skip", BLOCKS, ids=[f"line{b[0]}-{b[1]}" for b in BLOCKS])
def test_readme_block_is_marked_only_with_a_known_reason(line, lang, code, skip):
    assert skip is None or skip in SKIP_REASONS, f"README block at line {line}: skip reason {skip!r} not in {SKIP_REASONS}"


@pytest.mark.parametrize(
    "line,code", [(b[0], b[2]) for b in BLOCKS if b[1] == "bash"], ids=[f"line{b[0]}" for b in BLOCKS if b[1] == "bash"]
)
def test_readme_commands_name_the_venv(line, code):
    """Skipped blocks too: every venv program is called as .venv/bin/NAME, which a fresh shell finds."""
    bare = []
    for cmd in _commands(code):
        for part in re.split(r"&&|\|\||;|\|", cmd):
            words = part.split()
            # the program, and what torchrun --no-python runs
            progs = words[:1] + [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--no-python"]
            if words[:3] == ["python3", "-m", "venv"]:  # the system Python that makes the venv
                progs = progs[1:]
            bare += [p for p in progs if p in _VENV_TOOLS]
    assert not bare, f"README block at line {line} calls {sorted(set(bare))} bare: write .venv/bin/{bare[0]} (see Quick start)"


def _scratch(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv"):
            (repo / entry.name).symlink_to(entry)
    (repo / ".venv").symlink_to(Path(sys.prefix))  # the environment running the tests, as the Quick start's .venv
    (tmp_path / "shared").symlink_to(SHARED.resolve())
    return repo


def _env(tmp_path: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    return {
        **os.environ,
        "PATH": path,
        "PYTHONPATH": str(ROOT),  # this checkout's sr4det, whatever the environment's editable install points at
        "MPLBACKEND": "Agg",
        "SR4DET_PROGRESS": "none",
        "SR4DET_CACHE": str(tmp_path / "cache"),
        "SR4DET_OFFLINE": "1",
        "SR4DET_SHARED": str(SHARED.resolve()),
    }


def _git_status() -> str | None:
    """The repo's untracked files (what a block writing into the repo would add; edits to tracked files made while
    the test runs are the developer's, not the block's), or None outside a git checkout."""
    if not (ROOT / ".git").exists():
        return None
    proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True, text=True)
    return "".join(line + "\n" for line in proc.stdout.splitlines() if line.startswith("??")) if proc.returncode == 0 else None


def _missing_shared(code: str) -> list[str]:
    return [p for p in _SHARED_PATH.findall(code) if not (SHARED / p[len("../shared/") :]).exists()]


def _run(argv: list[str], repo: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=repo, env=_env(tmp_path), capture_output=True, text=True, timeout=600)


def _failure(line: int, lang: str, code: str, proc: subprocess.CompletedProcess) -> str:
    return (
        f"README {lang} block at line {line} failed (exit {proc.returncode}):\n{code}\n"
        f"--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-3000:]}"
    )


PYTHON = [b for b in BLOCKS if b[1] == "python"]


@pytest.mark.parametrize("line,code,skip", [(b[0], b[2], b[3]) for b in PYTHON], ids=[f"line{b[0]}" for b in PYTHON])
def test_readme_python_block_runs(line, code, skip, tmp_path):
    """Each python block on its own, in a fresh process."""
    if skip is not None:
        pytest.skip(f"README block at line {line} is marked `skip {skip}`")
    if missing := _missing_shared(code):
        pytest.skip(f"README block at line {line} needs {missing[0]}, not on this machine")
    before = _git_status()
    proc = _run([sys.executable, "-c", code], _scratch(tmp_path), tmp_path)
    assert proc.returncode == 0, _failure(line, "python", code, proc)
    assert _git_status() == before, f"README block at line {line} left files in the repo"


def test_readme_bash_blocks_run_in_order(tmp_path):
    """The bash blocks as a user pastes them: one after the other in the same folder (a later block may use what an
    earlier one wrote, e.g. ``mos report`` the study ``mos create`` made), each in a fresh ``bash``."""
    repo = _scratch(tmp_path)
    before = _git_status()
    ran, failures = [], []
    for line, lang, code, skip in BLOCKS:
        if lang != "bash" or skip is not None or _missing_shared(code):
            continue
        proc = _run(["bash", "-e", "-o", "pipefail", "-c", code], repo, tmp_path)
        ran.append(line)
        if proc.returncode != 0:
            failures.append(_failure(line, "bash", code, proc))
    assert not failures, "\n\n".join(failures)
    if SHARED.is_dir():
        assert len(ran) >= 3  # not a test that passes because everything was skipped
    assert _git_status() == before, "README bash blocks left files in the repo"
