"""The README's command blocks, as docs/readme_check.py reads them: every ```bash block parses into
commands, none keeps a placeholder (RUN, CONFIG, HF_FOLDER, [--flag]...), and every file a command
reads is tracked by git or made by an earlier command. The extractor and the runner are checked on
small hand-written blocks against what bash itself does. Fast: nothing is trained."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_check", ROOT / "docs" / "readme_check.py")
assert _spec and _spec.loader
rc = importlib.util.module_from_spec(_spec)
sys.modules["readme_check"] = rc  # dataclasses look their module up by name
_spec.loader.exec_module(rc)

BLOCKS = rc.parse_readme(ROOT / "README.md")
PLACEHOLDER = re.compile(r"\bRUN2?\b|\bCONFIG\b|HF_FOLDER|\[--|\bDIR\b|\bTEXT\b|\bsrc\.txt\b|\.\.\.|<[A-Z_]+>")


def _bash(script: str) -> str:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout


def test_every_bash_block_parses_into_commands():
    bash = [b for b in BLOCKS if b.lang == "bash"]
    assert len(bash) >= 10, "the README's ```bash blocks were not found"
    for block in bash:
        assert block.commands, f"block {block.number} ({block.heading}) holds no command"
        for command in block.commands:
            shlex.split(command.text)  # balanced quotes
            assert " # " not in command.text, command.text  # comments are kept out
            assert not command.text.endswith("\\"), command.text
    for block in BLOCKS:
        if block.lang == "python":
            compile(block.text, f"README block {block.number}", "exec")
    assert {b.lang for b in BLOCKS} <= {"bash", "python", "toml"}
    assert all(c.kind == "skip" and c.reason for b in BLOCKS if b.lang == "toml" for c in b.commands)


def test_no_command_keeps_a_placeholder():
    found = [(b.number, c.text) for b in BLOCKS for c in b.commands if PLACEHOLDER.search(c.text)]
    assert not found, f"placeholders left in README commands: {found}"


def test_the_placeholder_pattern_catches_the_old_reference_lines():
    for old in (
        "attnkit demo [--out runs/demo]",
        "attnkit align --model RUN [--reverse RUN2] --input src.txt --output links.pharaoh",
        "attnkit import-hf HF_FOLDER --out RUN",
        "attnkit study length [CONFIG...] --budget 30min --jobs 2",
        "torchrun --nproc_per_node=2 -m attnkit.cli train CONFIG --out RUN",
    ):
        assert PLACEHOLDER.search(old), old


def _tracked() -> set[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return set(out.split())


def test_every_file_a_command_reads_is_tracked_or_made_earlier():
    missing = [(b.number, c.line, path) for b, c, path in rc.unmade_inputs(BLOCKS, _tracked())]
    assert not missing, f"(block, README line, path) read but neither tracked nor made before: {missing}"


def test_an_input_no_block_makes_is_flagged(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "```bash\n"
        "attnkit predict --model runs/demo/bahdanau shirt.png --attention-plot where.png\n"
        "espeak-ng -w recording.wav seven\n"
        "attnkit predict --model runs/x recording.wav --attention-plot where.png\n"
        "attnkit train configs/dates-bahdanau.yaml --out runs/x\n"
        "C=corpora/c; attnkit align --model runs/x --input $C/test.src --output links.pharaoh\n"
        "```\n",
        encoding="utf-8",
    )
    missing = {path for _, _, path in rc.unmade_inputs(rc.parse_readme(readme), {"configs/dates-bahdanau.yaml"})}
    # runs/demo: `make demo` is in no block here; runs/x is read before the train that writes it
    assert missing == {"runs/demo/bahdanau", "shirt.png", "runs/x", "corpora/c/test.src"}


BLOCK = r"""```bash
make demo   # sets up .venv
C=one; echo "$C # not a comment" 'it''s'   # a comment
M=$(printf '%s' "two; three")
echo $M \
    four \
  five      # after the continuation
  # a line of comment only
python3 -c "print(1); \
print(2)"   # the backslash-newline inside quotes goes too
```
"""


def test_extractor_reads_a_block_as_bash_does(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(BLOCK, encoding="utf-8")
    [block] = rc.parse_readme(readme)
    assert [c.text for c in block.commands] == [
        "make demo",
        """C=one; echo "$C # not a comment" 'it''s'""",
        """M=$(printf '%s' "two; three")""",
        "echo $M four five",
        'python3 -c "print(1); print(2)"',
    ]
    assert [c.line for c in block.commands] == [2, 3, 4, 5, 9]
    assert [c.prefix for c in block.commands] == [
        "",
        "",
        "C=one",
        """C=one; M=$(printf '%s' "two; three")""",
        """C=one; M=$(printf '%s' "two; three")""",
    ]
    # what bash prints for the block typed as one script, line by line
    assert _bash(block.commands[1].script) == "one # not a comment its\n"
    assert _bash(block.commands[3].script) == "two; three four five\n"
    assert _bash(block.text.split("\n", 1)[1].replace("make demo", "")).endswith("two; three four five\n1\n2\n")


def _fake_venv(tmp_path: Path, port: int) -> Path:
    """A venv whose `attnkit explore` serves the folder on `port`, and whose other commands fail."""
    bin_ = tmp_path / "venv" / "bin"
    bin_.mkdir(parents=True)
    script = bin_ / "attnkit"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = explore ] && exec {sys.executable} -m http.server --bind 127.0.0.1 {port}\n'
        "echo 'attnkit: error: no such run' >&2; exit 2\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return bin_.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_runner_times_reports_resumes_and_stops_servers(tmp_path):
    port = _free_port()
    venv = _fake_venv(tmp_path, port)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text(
        "## One\n\n```bash\nprintf 'a\\n' > a.txt\nwc -l < a.txt   # reads the file made above\n"
        f"attnkit explore runs/x --port {port}\n```\n\n"
        "## Two\n\n```bash\nattnkit predict --model runs/missing x\necho never\n```\n\n"
        "## Three\n\n```python\nimport pathlib\npathlib.Path('p.txt').write_text('python ran')\n```\n\n"
        "```toml\n[x]\n```\n",
        encoding="utf-8",
    )
    state, report = tmp_path / "state.json", tmp_path / "report.md"
    args = ["--repo", str(repo), "--venv", str(venv), "--state", str(state), "--report", str(report)]
    args += ["--logs", str(tmp_path / "logs")]
    assert rc.main(args) == 1  # block Two fails
    table = report.read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 7
    assert "served on port" in rows[2] and rows[2].split("|")[4].strip().startswith("0")
    assert rows[3].split("|")[4].strip() == "2" and "not run" in rows[4]
    assert "attnkit: error: no such run" in table  # the failure's last lines
    assert (repo / "a.txt").read_text() == "a\n" and (repo / "p.txt").read_text() == "python ran"
    assert "skipped" in rows[6]
    saved = json.loads(state.read_text(encoding="utf-8"))
    assert sorted(v["status"] for v in saved.values()) == ["failed", "passed", "passed", "passed", "passed", "skipped"]
    # nothing serves the port any more
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    (repo / "a.txt").unlink()
    assert rc.main(args) == 1
    assert not (repo / "a.txt").exists()  # passed before: not run again
    assert "earlier run" in report.read_text(encoding="utf-8")
    assert rc.main([*args, "--again", "--only", "1"]) == 0 and (repo / "a.txt").exists()


def test_a_line_repeated_in_a_block_runs_each_time(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("```bash\necho x >> log.txt\necho x >> log.txt\n```\n", encoding="utf-8")
    args = ["--repo", str(repo), "--venv", str(tmp_path / "venv"), "--logs", str(tmp_path / "logs")]
    assert rc.main([*args, "--state", str(tmp_path / "state.json"), "--report", str(tmp_path / "r.md")]) == 0
    assert (repo / "log.txt").read_text() == "x\nx\n"


def test_apt_lines_are_skipped_when_installed_and_run_with_yes_otherwise(monkeypatch):
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0 if "installed-pkg" in cmd else 1)

    monkeypatch.setattr(rc.subprocess, "run", fake_run)
    monkeypatch.setattr(rc.shutil, "which", lambda name: "/usr/bin/" + name)
    assert rc._apt(rc.Command("sudo apt-get install installed-pkg", 1))[0] is None
    monkeypatch.setattr(rc.os, "geteuid", lambda: 0)
    assert rc._apt(rc.Command("sudo apt-get install new-pkg", 1))[0] == "apt-get install -y new-pkg"
    monkeypatch.setattr(rc.os, "geteuid", lambda: 1000)
    assert rc._apt(rc.Command("sudo apt-get install new-pkg", 1))[0] == "sudo apt-get install -y new-pkg"
    assert calls[0] == ["dpkg", "-s", "installed-pkg"]


def test_list_prints_every_block(capsys):
    assert rc.main(["--repo", str(ROOT), "--list"]) == 0
    out = capsys.readouterr().out
    assert out.count("```") == len(BLOCKS) and "[server]" in out and "[skip:" in out


def test_a_rerun_removes_the_run_folder_an_interrupted_attempt_left(tmp_path):
    repo = tmp_path / "repo"
    (repo / "runs" / "x").mkdir(parents=True)  # left by an attempt killed mid-run
    (repo / "elsewhere").mkdir()
    (repo / "README.md").write_text("```bash\nattnkit train --out runs/x\n```\n", encoding="utf-8")
    block = rc.parse_readme(repo / "README.md")[0]
    command = block.commands[0]
    assert rc.stale_run_folders(command, repo) == [(repo / "runs" / "x").resolve()]
    outside = rc.Command("attnkit train --out elsewhere", 1)
    assert rc.stale_run_folders(outside, repo) == []  # only folders under runs/
    study = rc.Command("attnkit study vision --out runs/x", 1)
    assert rc.stale_run_folders(study, repo) == []  # a study resumes its folder
    state = tmp_path / "state.json"
    state.write_text(json.dumps({rc._key(block, command): {"block": 1, "status": "started"}}), encoding="utf-8")
    venv = tmp_path / "venv"  # its attnkit makes a run folder and refuses an existing one, as train does
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "attnkit").write_text("#!/bin/sh\ntest ! -e runs/x && mkdir runs/x\n", encoding="utf-8")
    (venv / "bin" / "attnkit").chmod(0o755)
    args = ["--repo", str(repo), "--venv", str(venv), "--logs", str(tmp_path / "logs")]
    assert rc.main([*args, "--state", str(state), "--report", str(tmp_path / "r.md")]) == 0
    assert (repo / "runs" / "x").is_dir() and (repo / "elsewhere").is_dir()
    assert json.loads(state.read_text(encoding="utf-8"))[rc._key(block, command)]["status"] == "passed"
