"""Run every command block of README.md as written, in order, and time each command.

The ```bash blocks are split into commands: comments are dropped, lines ending in ``\\`` are joined,
and each command runs in a bash process of its own (``set -o pipefail``), after the block's earlier
variable assignments (``C=...;``, ``M=$(...)``), so a block reads as a newcomer would type it.
``.venv/bin`` of the clone comes first on PATH (as after ``make demo``), stdin is /dev/null (a
command that pipes or redirects reads what it names), and the working directory is the clone.

- ``attnkit explore ...`` runs as written, with BROWSER, DISPLAY and WAYLAND_DISPLAY unset (no
  browser opens); it counts as passed once ``http://127.0.0.1:PORT/`` answers 200 (PORT from
  ``--port``, else 8765), and is then stopped: the seconds reported are the seconds to serve.
- ``sudo apt-get install PKG...`` is skipped when ``dpkg -s`` finds every package installed; else
  it runs as ``apt-get install -y PKG...`` when running as root, and as written with ``-y`` otherwise.
- The ```python blocks run as one script each (``python FILE`` in the clone); the ```toml block is
  a fragment of another package's pyproject.toml, not a command: it is listed as skipped.
- A command that fails is reported with the last lines of its output, the rest of its block is not
  run, and the next block goes on. Every command's output is kept in ``--logs``.
- ``--state FILE`` (JSON) remembers the commands that passed: a rerun skips them unless ``--again``.

Usage (stdlib only; the lead's full check, on a fresh clone after ``make demo``):

    python3 docs/readme_check.py --list                  # the blocks and their commands
    python3 docs/readme_check.py --state runs/readme-check.json --report runs/readme-check.md
    python3 docs/readme_check.py --only 11,12 --state runs/readme-check.json   # some blocks (numbers of --list)

Exit status: 0 when every command passed or was skipped for a stated reason, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^```(\w*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
RUNNABLE = ("bash", "python")
NOT_RUNNABLE = {"toml": "a fragment of another package's pyproject.toml, not a command"}
DEFAULT_PORT = 8765
TAIL_LINES = 15


@dataclass
class Command:
    """One command of a block: `text` as written (comments dropped, continuations joined), the
    README line it starts on, and `prefix`, the block's earlier variable assignments."""

    text: str
    line: int
    prefix: str = ""
    kind: str = "run"  # run | server | apt | python | skip
    reason: str = ""  # why a `skip` command is not run

    @property
    def script(self) -> str:
        return f"{self.prefix}; {self.text}" if self.prefix else self.text


@dataclass
class Block:
    number: int
    lang: str
    heading: str
    line: int
    text: str
    commands: list[Command] = field(default_factory=list)


def _scan(line: str, stop: str = ";") -> tuple[str, list[int]]:
    """`line` without its comment, and the offsets of its top-level characters in `stop` (outside
    quotes and ``$(...)``)."""
    quote, depth, i = "", 0, 0
    semis: list[int] = []
    while i < len(line):
        c = line[i]
        if quote == "'":
            quote = "" if c == "'" else quote
        elif c == "\\":
            i += 1
        elif quote == '"':
            quote = "" if c == '"' else quote
        elif c in "'\"":
            quote = c
        elif line.startswith("$(", i):
            depth += 1
            i += 1
        elif c == ")" and depth:
            depth -= 1
        elif c == "#" and depth == 0 and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), semis
        elif c in stop and depth == 0:
            semis.append(i)
        i += 1
    return line.rstrip(), semis


def strip_comment(line: str) -> str:
    """`line` without its shell comment (a ``#`` that starts a word outside quotes)."""
    return _scan(line)[0]


def leading_assignments(command: str) -> list[str]:
    """The variable assignments a command line starts with: ``C=x; cmd`` gives ``["C=x"]`` and a
    line that only assigns gives itself."""
    _, semis = _scan(command)
    out, start = [], 0
    for end in [*semis, len(command)]:
        statement = command[start:end].strip()
        if not ASSIGNMENT.match(statement) or _scan(statement, " \t")[1]:  # one word: NAME=value
            break
        out.append(statement)
        start = end + 1
    return out


def bash_commands(text: str, first_line: int) -> list[Command]:
    """The commands of a bash block: ``\\`` continuations joined as bash joins them (the backslash
    and the line break go, the next line's indentation too), comments dropped, each command with the
    assignments of the lines before it in the block."""
    commands: list[Command] = []
    assignments: list[str] = []
    pending, start = "", first_line
    for offset, raw in enumerate(text.splitlines()):
        if not pending:
            start = first_line + offset
        line = strip_comment(pending + (raw.lstrip() if pending else raw))
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        line, pending = line.strip(), ""
        if line:
            commands.append(Command(line, start, "; ".join(assignments), _kind(line)))
            assignments += leading_assignments(line)
    if pending.strip():
        commands.append(Command(pending.strip(), start, "; ".join(assignments), _kind(pending)))
    return commands


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _kind(command: str) -> str:
    words = [w for w in _words(command) if not ASSIGNMENT.match(w)]
    if words[:2] == ["attnkit", "explore"]:
        return "server"
    if "apt-get" in words[:2] and "install" in words:
        return "apt"
    return "run"


def parse_readme(path: Path) -> list[Block]:
    """The fenced blocks of the README that carry a language (```bash, ```python, ```toml),
    numbered from 1 in order; bare ``` blocks are printed output and are left out."""
    blocks: list[Block] = []
    heading, lang, start = "(top)", None, 0
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if lang is None and fence:
            lang, body, start = fence.group(1), [], number + 1
        elif lang is not None and line.startswith("```"):
            if lang:
                block = Block(len(blocks) + 1, lang, heading, start, "\n".join(body))
                if lang == "bash":
                    block.commands = bash_commands(block.text, start)
                elif lang == "python":
                    block.commands = [Command(f"python block ({len(body)} lines)", start, kind="python")]
                else:
                    reason = NOT_RUNNABLE.get(lang, f"a {lang} block, not a command")
                    block.commands = [Command(f"{lang} block", start, kind="skip", reason=reason)]
                blocks.append(block)
            lang = None
        elif lang is not None:
            body.append(line)
        elif line.startswith("## "):
            heading = line[3:].strip()
    return blocks


# ---------------------------------------------------------------------------------------- file paths

#: flags whose value is a file or folder the command writes
OUTPUT_FLAGS = frozenset(
    ("--out", "--output", "--attention-plot", "--confusion-plot", "--attention-grid", "--plot", "--report")
    + ("--n-best-file",)
)
#: commands that write a path named by no flag: (the command's first words, the path)
IMPLICIT_OUTPUTS = (("make demo", "runs/demo"), ("python docs/examples/make_user_data.py", "my-data"))
PATH_WORD = re.compile(r"^[\w.$/-]+$")
FILE_SUFFIX = re.compile(r"\.(png|jpe?g|wav|flac|ogg|txt|tsv|csv|json|ya?ml|md|html|pharaoh|src|tgt|py|conllu)$")
SAVED = re.compile(r"\.save\(['\"]([^'\"]+)['\"]\)")


def _expand(word: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda m: variables.get(m.group(1), m.group(0)), word)


def stale_run_folders(command: Command, repo: Path) -> list[Path]:
    """The folders under ``REPO/runs`` that an ``attnkit train`` `command` writes with ``--out`` and
    that exist: what an earlier, unfinished attempt at it left (``train`` refuses an existing run
    folder; studies resume theirs, so their folders are kept)."""
    words = [w for w in _words(command.text) if not ASSIGNMENT.match(w)]
    if words[:2] != ["attnkit", "train"]:
        return []
    runs = (repo / "runs").resolve()
    found = []
    for previous, word in zip(words, words[1:]):
        folder = (repo / word).resolve()
        if previous == "--out" and folder.is_dir() and folder.is_relative_to(runs) and folder != runs:
            found.append(folder)
    return found


def command_paths(command: Command) -> tuple[list[str], list[str]]:
    """(the paths `command` reads, the paths it writes), as far as its words tell: a word is a path
    when it has a ``/`` or a file suffix; it is written when it follows an output flag (``--out``,
    ``--attention-plot``...), ``>`` or ``-w``, or is saved by a ``python -c`` line's ``.save(...)``.
    The block's assignments (``C=...``) are expanded; what still holds a ``$`` is left out."""
    variables = dict(a.split("=", 1) for a in leading_assignments(command.prefix.replace("; ", ";")) if "$" not in a)
    variables.update(dict(a.split("=", 1) for a in leading_assignments(command.text) if "$" not in a))
    words = [w for w in _words(command.text) if not ASSIGNMENT.match(w)]
    reads: list[str] = []
    writes = [path for start, path in IMPLICIT_OUTPUTS if command.text.startswith(start)]
    writes += SAVED.findall(command.text)
    text_only = bool(words) and words[0] in ("printf", "echo")  # their words are text, not paths
    for previous, word in zip(words, words[1:]):
        if previous in ("|", "&&", "||", ";"):  # the next command of a pipe or list
            text_only = word in ("printf", "echo")
            continue
        if previous in ("-c", "--set", "--option") or word in ("|", "&&", "||", ";"):
            continue
        path = _expand(word, variables)
        if previous in OUTPUT_FLAGS or previous in (">", "-w"):
            writes.append(path)
        elif not text_only and not word.startswith("-") and PATH_WORD.match(path) and "$" not in path:
            if "/" in path or FILE_SUFFIX.search(path):
                reads.append(path)
    return reads, writes


def unmade_inputs(blocks: list[Block], tracked: set[str]) -> list[tuple[Block, Command, str]]:
    """The paths the bash blocks read that no earlier command writes and git does not track
    (`tracked`: the paths of ``git ls-files``), in README order."""
    folders = {str(Path(p).parents[i]) for p in tracked for i in range(len(Path(p).parents) - 1)}
    made: list[str] = []
    missing = []
    for block in blocks:
        for command in block.commands:
            reads, writes = command_paths(command)
            for path in reads:
                norm = os.path.normpath(path)
                if norm in tracked or norm in folders:
                    continue
                if any(norm == m or norm.startswith(m + "/") for m in made):
                    continue
                missing.append((block, command, path))
            made += [os.path.normpath(w) for w in writes]
    return missing


# ---------------------------------------------------------------------------------------- running


@dataclass
class Result:
    status: str  # passed | failed | timeout | skipped | not run
    seconds: float = 0.0
    rc: int | None = None
    note: str = ""
    tail: str = ""


def _env(venv: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


def _tail(*paths: Path) -> str:
    for path in paths:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
        if lines:
            return "\n".join(lines[-TAIL_LINES:])
    return ""


def _stop(process: subprocess.Popen) -> None:
    """Stop `process` and everything it started (its own session): SIGTERM to the group, up to 10 s
    for the leader to end, then SIGKILL to whatever of the group is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return  # nothing of the group is left
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            pass


def _answers(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return None


def _port(command: str) -> int:
    words = _words(command)
    for i, word in enumerate(words):
        if word == "--port" and i + 1 < len(words):
            return int(words[i + 1])
        if word.startswith("--port="):
            return int(word.split("=", 1)[1])
    return DEFAULT_PORT


def _apt(command: Command) -> tuple[str | None, str]:
    """(the script to run or None to skip, a note) for an ``apt-get install`` line."""
    words = _words(command.text)
    packages = [w for w in words[words.index("install") + 1 :] if not w.startswith("-")]
    if shutil.which("dpkg") and subprocess.run(["dpkg", "-s", *packages], capture_output=True).returncode == 0:
        return None, "every package is installed (dpkg -s)"
    if os.geteuid() == 0:
        return "apt-get install -y " + " ".join(packages), "run as root: apt-get install -y"
    return command.text.replace("apt-get install", "apt-get install -y", 1), "run with -y"


def run_command(command: Command, repo: Path, venv: Path, log: Path, timeout: float, serve_timeout: float) -> Result:
    """Run one command in `repo`, its output in `log` (.out, .err)."""
    if command.kind == "skip":
        return Result("skipped", note=command.reason)
    script, note = command.script, ""
    if command.kind == "apt":
        apt_script, note = _apt(command)
        if apt_script is None:
            return Result("skipped", note=note)
        script = apt_script
    log.parent.mkdir(parents=True, exist_ok=True)
    out, err = log.with_suffix(".out"), log.with_suffix(".err")
    port = _port(command.text) if command.kind == "server" else 0
    if command.kind == "server" and _answers(port) is not None:
        return Result("failed", note=f"port {port} is already in use; stop what serves it and rerun")
    started = time.monotonic()
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", f"set -o pipefail\n{script}"],
            cwd=repo,
            env=_env(venv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            if command.kind == "server":
                return _serve(process, port, started, serve_timeout, out, err)
            rc = process.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop(process)
            note = f"stopped after {timeout:.0f} s"
            return Result("timeout", time.monotonic() - started, None, note, _tail(err, out))
        except BaseException:
            _stop(process)
            raise
    seconds = time.monotonic() - started
    if rc == 0:
        return Result("passed", seconds, 0, note)
    return Result("failed", seconds, rc, note, _tail(err, out))


def _serve(process: subprocess.Popen, port: int, started: float, limit: float, out: Path, err: Path) -> Result:
    try:
        while time.monotonic() - started < limit:
            code = _answers(port)
            if code == 200:
                note = f"served on port {port} (HTTP 200), then stopped"
                return Result("passed", time.monotonic() - started, 0, note)
            if process.poll() is not None:
                return Result(
                    "failed", time.monotonic() - started, process.returncode, "exited before serving", _tail(err, out)
                )
            time.sleep(0.5)
        return Result("timeout", time.monotonic() - started, None, f"no HTTP 200 within {limit:.0f} s", _tail(err, out))
    finally:
        _stop(process)


def run_python(block: Block, repo: Path, venv: Path, log: Path, timeout: float) -> Result:
    """Run a ```python block as one script in `repo`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    script = log.with_suffix(".py")
    script.write_text(block.text + "\n", encoding="utf-8")
    command = Command(f"python {shlex.quote(str(script.resolve()))}", block.line)
    return run_command(command, repo, venv, log, timeout, 0)


# ---------------------------------------------------------------------------------------- report


def _key(block: Block, command: Command) -> str:
    """The command's name in --state: its section, its text and which repetition of that text in
    the block it is (the same line twice in a block runs twice)."""
    text = block.text if command.kind == "python" else command.text
    same = [c for c in block.commands if c.text == command.text]
    return f"{block.heading} :: {text}" + (f" :: {same.index(command) + 1}" if len(same) > 1 else "")


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def report(rows: list[tuple[Block, Command, Result]]) -> str:
    lines = ["| block | command | seconds | exit status |", "| ---: | --- | ---: | --- |"]
    for block, command, result in rows:
        status = {"passed": "0", "failed": f"{result.rc}" if result.rc is not None else "failed"}.get(
            result.status, result.status
        )
        if result.note:
            status += f" ({result.note})"
        seconds = f"{result.seconds:.0f}" if result.seconds else ""
        lines.append(f"| {block.number} {block.heading} | {_cell(command.text)} | {seconds} | {status} |")
    total = sum(r.seconds for _, _, r in rows)
    bad = [(b, c, r) for b, c, r in rows if r.status in ("failed", "timeout")]
    lines += ["", f"{len(rows)} commands, {len(bad)} failed, {total / 60:.1f} minutes in all."]
    for block, command, result in bad:
        lines += ["", f"**Block {block.number}, line {command.line}:** `{command.text}` ({result.status})"]
        if result.tail:
            lines += ["```", result.tail, "```"]
    return "\n".join(lines) + "\n"


def _selection(spec: str | None, blocks: list[Block]) -> set[int]:
    if not spec:
        return {b.number for b in blocks}
    chosen: set[int] = set()
    for part in spec.split(","):
        low, _, high = part.partition("-")
        chosen.update(range(int(low), int(high or low) + 1))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="the clone to run in (default: here)")
    parser.add_argument("--readme", type=Path, help="the README to read (default: REPO/README.md)")
    parser.add_argument("--venv", type=Path, help="virtual environment whose bin/ goes first (default: REPO/.venv)")
    parser.add_argument("--state", type=Path, help="JSON of the results, resumable (default: none kept)")
    parser.add_argument("--report", type=Path, help="write the Markdown table here (default: stdout)")
    parser.add_argument(
        "--logs", type=Path, help="folder for each command's output (default: REPO/runs/readme-check-logs)"
    )
    parser.add_argument("--only", metavar="BLOCKS", help="block numbers of --list, e.g. 3 or 2,5-7")
    parser.add_argument("--list", action="store_true", help="print the blocks and their commands, run nothing")
    parser.add_argument("--again", action="store_true", help="rerun commands that passed in --state")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds per command (default: 4 h)")
    parser.add_argument("--serve-timeout", type=float, default=300, help="seconds for a server to answer (300)")
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    blocks = parse_readme(args.readme or repo / "README.md")
    chosen = _selection(args.only, blocks)
    if args.list:
        for block in blocks:
            print(f"{block.number:2d}  ```{block.lang}  {block.heading}  (README line {block.line})")
            for i, command in enumerate(block.commands, 1):
                reason = f": {command.reason}" if command.reason else ""
                kind = "" if command.kind == "run" else f" [{command.kind}{reason}]"
                print(f"      {i:2d}. {command.text}{kind}")
        return 0
    venv = (args.venv or repo / ".venv").resolve()
    logs = (args.logs or repo / "runs" / "readme-check-logs").resolve()  # runs/ is git-ignored
    state: dict[str, dict] = {}
    if args.state and args.state.exists():
        state = json.loads(args.state.read_text(encoding="utf-8"))
    rows: list[tuple[Block, Command, Result]] = []
    for block in blocks:
        if block.number not in chosen:
            continue
        failed = False
        for i, command in enumerate(block.commands, 1):
            key = _key(block, command)
            earlier = state.get(key)
            if failed:
                result = Result("not run", note="an earlier command of the block failed")
            elif earlier and earlier["status"] in ("passed", "skipped") and not args.again:
                note = "; ".join(n for n in ("earlier run", earlier["note"]) if n)
                result = Result(earlier["status"], earlier["seconds"], earlier["rc"], note)
            else:
                if earlier:  # started before and did not pass (interrupted, failed): its run folders go
                    for folder in stale_run_folders(command, repo):
                        print(f"    removing {folder} left by the earlier attempt", file=sys.stderr, flush=True)
                        shutil.rmtree(folder)
                print(f"[block {block.number}.{i}] {command.text}", file=sys.stderr, flush=True)
                if args.state:  # an interrupted command is known as one on the next start
                    state[key] = {"block": block.number, "command": command.text, "status": "started"}
                    state[key].update(seconds=0.0, rc=None, note="", tail="", finished="")
                    _write_json(args.state, state)
                log = logs / f"block{block.number:02d}-{i:02d}"
                if command.kind == "python":
                    result = run_python(block, repo, venv, log, args.timeout)
                else:
                    result = run_command(command, repo, venv, log, args.timeout, args.serve_timeout)
                print(f"    -> {result.status} in {result.seconds:.1f} s {result.note}", file=sys.stderr, flush=True)
                if result.status in ("failed", "timeout") and result.tail:
                    print("    " + result.tail.replace("\n", "\n    "), file=sys.stderr, flush=True)
                state[key] = {
                    "block": block.number,
                    "command": command.text,
                    "status": result.status,
                    "seconds": round(result.seconds, 1),
                    "rc": result.rc,
                    "note": result.note,
                    "tail": result.tail,
                    "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                }
                if args.state:
                    _write_json(args.state, state)
            failed = failed or result.status in ("failed", "timeout")
            rows.append((block, command, result))
    table = report(rows)
    if args.report:
        args.report.write_text(table, encoding="utf-8")
    else:
        print(table)
    return 1 if any(r.status in ("failed", "timeout", "not run") for _, _, r in rows) else 0


def _write_json(path: Path, data: dict) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
    os.replace(f.name, path)


if __name__ == "__main__":
    sys.exit(main())
