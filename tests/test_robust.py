"""Never a crash, always the right status: kcmpctl started in odd ways.

Closed standard streams, a full disk, too little memory, a parent that ignores
SIGCHLD, a locale that cannot encode a process's name: each is a real process
started that way, and each must end in a valid answer or one line and status 2.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kcmpctl import procs

from .conftest import Family, denied_pid

Spawn = Callable[..., Family]
Run = Callable[..., tuple[int, str, str]]


def shell(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """*script* run by sh, with ``$K`` running kcmpctl through this interpreter."""
    full_env = {**os.environ, "COLUMNS": "200", "K": f"{sys.executable} -m kcmpctl", **env}
    return subprocess.run(
        ["sh", "-c", script, "sh", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_closed_stdout_is_one_line_and_trouble() -> None:
    proc = shell("$K types >&-")
    assert (proc.returncode, proc.stderr) == (
        2,
        "kcmpctl: standard output: Bad file descriptor\n",
    )
    proc = shell("$K types -J >&-")
    assert (proc.returncode, proc.stderr) == (
        2,
        "kcmpctl: standard output: Bad file descriptor\n",
    )
    # -q writes nothing, so a closed stdout is no trouble.
    assert shell("$K types -q >&-").returncode == 0


def test_full_disk_is_trouble() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    # Buffered (PYTHONUNBUFFERED empty): the flush at exit must not fail a second time.
    proc = shell("$K types >/dev/full", PYTHONUNBUFFERED="")
    assert (proc.returncode, proc.stderr) == (
        2,
        "kcmpctl: standard output: No space left on device\n",
    )


@pytest.mark.parametrize(
    "script",
    [
        "$K pair 1 x 2>&-",
        "$K types -o NOPE 2>&-",
        "$K nosuch 2>&-",
        "$K epoll $$ 9999 2>&-",  # no such fd: the kernel's answer
        "$K tree $$ -t vm >&- 2>&-",  # stdout closed too
    ],
)
def test_closed_stderr_still_exits_2(script: str) -> None:
    proc = shell(script)
    assert (proc.returncode, proc.stdout) == (2, "")


def limited(limit: int) -> Callable[[], None]:
    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return set_limit


def test_too_little_memory_is_one_line_and_trouble(tmp_path: Path) -> None:
    """prlimit --as: wherever memory runs out (imports, compiling a module, the table),
    one line, status 2, and it says so: never "internal error"."""
    # No bytecode to load: every module is compiled from source, as after an upgrade.
    env = {
        **os.environ,
        "COLUMNS": "200",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": str(tmp_path),
    }
    commands = (["types"], ["matrix", "-p", str(os.getpid()), "-t", "vm", "--groups"])
    outcomes = set()
    for megabytes in range(14, 34):
        limit = megabytes * 1_000_000
        try:
            bare = subprocess.run(
                [sys.executable, "-c", "import kcmpctl"],
                preexec_fn=limited(limit),
                capture_output=True,
                env=env,
                timeout=10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            continue  # CPython can spin at start under a tight limit: not kcmpctl's code
        if bare.returncode != 0:
            continue  # the interpreter itself cannot start: nothing kcmpctl can do
        for args in commands:
            proc = subprocess.run(
                [sys.executable, "-m", "kcmpctl", *args],
                preexec_fn=limited(limit),
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
                check=False,
            )
            outcomes.add(proc.returncode)
            assert proc.returncode in (0, 1, 2), (megabytes, args, proc.stderr)
            if proc.returncode == 2:
                assert proc.stderr.startswith("kcmpctl: out of memory"), (megabytes, proc.stderr)
                assert proc.stderr.count("\n") == 1, proc.stderr
    if 2 not in outcomes:
        pytest.skip(f"no limit here made kcmpctl run out of memory: {outcomes}")


def ignore_sigchld() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # survives exec, as from a real parent


def test_answers_do_not_depend_on_an_ignored_sigchld(family: Spawn) -> None:
    fam = family("clone:c:FILES", "epoll:e", "pipe:p", "eadd:3:4")
    pids = [str(fam.pid), str(fam["c"])]
    env = {**os.environ, "COLUMNS": "200"}

    def run(*args: str, ignored: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kcmpctl", *args],
            preexec_fn=ignore_sigchld if ignored else None,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    pair = run("pair", *pids, "-J")
    assert (pair.returncode, pair.stderr) == (1, "")
    relations = {r["type"]: r["relation"] for r in json.loads(pair.stdout)["pairs"]}
    assert relations["files"] == "shared"
    assert relations["io"] == relations["sysvsem"] == "none"

    matrix = run("matrix", "-p", ",".join(pids), "-t", "files,io", "-J")
    assert (matrix.returncode, matrix.stderr) == (1, "")
    by_type = {r["type"]: r for r in json.loads(matrix.stdout)["resources"]}
    assert by_type["files"]["groups"] == [sorted([fam.pid, fam["c"]])]
    assert sorted(by_type["io"]["absent"]) == sorted([fam.pid, fam["c"]])

    # Every other command: the same answer as from a parent with SIGCHLD at default.
    for args in (
        ["tree", str(fam.pid), "-J"],
        ["fds", "-p", ",".join(pids), "--dups", "-J"],
        ["epoll", str(fam.pid), "3", "-J"],
    ):
        ignored, default = run(*args), run(*args, ignored=False)
        assert (ignored.returncode, ignored.stderr) == (default.returncode, ""), args
        assert json.loads(ignored.stdout) == json.loads(default.stdout), args


# ---------------------------------------------------------------- encodings

HOSTILE = "é€\u202e\u2028x"


def latin1(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONIOENCODING": "latin-1"}
    proc = subprocess.run(
        [sys.executable, "-m", "kcmpctl", *args],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode("latin-1"), proc.stderr.decode("latin-1")
    )


def test_a_latin1_locale_gets_valid_json_and_escaped_text(family: Spawn) -> None:
    fam = family(f"name:{HOSTILE}".encode(), "pipe:p", "fork:c")
    pids = f"{fam.pid},{fam['c']}"
    clone = family(f"name:{HOSTILE}".encode(), "clone:c:FILES")
    sharing = f"{clone.pid},{clone['c']}"
    # é is in ISO-8859-1; €, U+202E and U+2028 are not (and the last two are escaped
    # everywhere): as \xHH of their UTF-8 bytes.
    shown = "é\\xe2\\x82\\xac\\xe2\\x80\\xae\\xe2\\x80\\xa8x"

    for args in (["matrix", "-p", pids, "-t", "files"], ["fds", "-p", pids]):
        proc = latin1(*args, "-J")
        assert proc.stderr == ""
        assert proc.stdout.isascii()
        assert HOSTILE in proc.stdout.encode("latin-1").decode("unicode_escape")
        json.loads(proc.stdout)  # complete and valid

    proc = latin1("matrix", "-p", pids, "-t", "files", "-J")
    assert {p["comm"] for p in json.loads(proc.stdout)["processes"]} == {HOSTILE}

    for extra in (["--grid"], ["--groups"], ["--groups", "-r"]):
        proc = latin1("matrix", "-p", sharing, "-t", "files", *extra)
        assert (proc.returncode, proc.stderr) == (0, ""), extra
        assert shown in proc.stdout, extra

    proc = latin1("fds", "-p", pids, "-o", "COMMANDS")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert shown in proc.stdout

    proc = latin1("pair", str(fam.pid), str(fam["c"]))
    assert proc.returncode == 1
    assert f"{fam.pid} ({shown})" in proc.stdout


def test_format_characters_are_escaped(family: Spawn, kcmpctl: Run) -> None:
    fam = family(f"name:{HOSTILE}".encode(), "fork:c")
    _, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]))
    assert f"{fam.pid} (é€\\xe2\\x80\\xae\\xe2\\x80\\xa8x)" in out
    assert "\u202e" not in out
    assert "\u2028" not in out


def test_escapes_are_unambiguous(family: Spawn, kcmpctl: Run) -> None:
    literal = family("name:\\x1b[31m", "fork:c")  # a backslash, then 'x1b'
    real = family("name:\x1b[31m", "fork:c")
    undecodable = family(b"name:\xff", "fork:c")
    spelled = family("name:\\xff", "fork:c")

    def human(fam: Family) -> str:
        _, out, _ = kcmpctl("pair", str(fam.pid), str(fam["c"]), "-t", "vm")
        return out.splitlines()[0]

    def comm(fam: Family) -> str:
        _, out, _ = kcmpctl("matrix", "-p", f"{fam.pid},{fam['c']}", "-t", "vm", "-J")
        (name,) = {p["comm"] for p in json.loads(out)["processes"]}
        return str(name)

    assert human(literal).endswith("(\\x5cx1b[31m)")
    assert human(real).endswith("(\\x1b[31m)")
    assert comm(undecodable) == "\\xff"
    assert comm(spelled) == "\\x5cxff"


# ------------------------------------------------------- processes not searched


def test_every_command_says_what_it_could_not_search(family: Spawn, kcmpctl: Run) -> None:
    denied = denied_pid()
    fam = family("epoll:ep", "pipe:a", "eadd:3:4")
    name = procs.comm(denied)
    assert name is not None
    only_it = "^" + re.escape(name) + "$"
    commands = {
        "epoll": ["epoll", str(fam.pid), "3", "--all"],
        "fds": ["fds", "-c", only_it],
        "matrix": ["matrix", "-c", only_it, "-t", "files"],
        "matrix -r": ["matrix", "-c", only_it, "-t", "files", "-r"],
        "matrix -n": ["matrix", "-c", only_it, "-t", "files", "--groups", "-n"],
        "tree": ["tree", "-c", only_it, "-t", "files"],
    }
    for what, args in commands.items():
        status, _, err = kcmpctl(*args)
        assert status != 2, what  # found by a selector, not named: no trouble
        lines = err.splitlines()
        assert len(lines) == 1, (what, err)
        assert lines[0].startswith("kcmpctl: skipped "), (what, err)
        assert "permission denied" in lines[0], (what, err)
        assert kcmpctl(*args, "-q")[2] == "", what


def test_a_pid_hidden_by_hidepid_gets_one_answer() -> None:
    """hidepid=2 hides from /proc the processes kcmp refuses: every command says
    "permission denied", not "no such process" where it reads /proc."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        pytest.skip("needs root, unshare(1) and setpriv(1): a private /proc with hidepid=2")
    # nobody, with the right to read this interpreter (it may live under /root).
    drop = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=+dac_read_search",
        "--ambient-caps=+dac_read_search",
    ]
    mount = 'mount -t proc -o hidepid=2 proc /proc && exec "$@"'
    private = ["unshare", "-m", "--propagation", "private", "sh", "-c", mount, "sh"]
    hidden = subprocess.Popen(["sleep", "30"])
    try:
        answers = []
        for args in (
            ["pair", str(hidden.pid), str(hidden.pid), "-t", "vm"],
            ["matrix", "-p", str(hidden.pid), "-t", "vm"],
            ["fds", "-p", str(hidden.pid)],
            ["fds", "--tree", str(hidden.pid)],
            ["epoll", str(hidden.pid), "3"],
            ["tree", str(hidden.pid), "-t", "vm"],
            ["matrix", "--tree", str(hidden.pid), "-t", "vm"],
        ):
            proc = subprocess.run(
                [*private, *drop, sys.executable, "-m", "kcmpctl", *args],
                capture_output=True,
                text=True,
                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                timeout=60,
                check=False,
            )
            if "mount" in proc.stderr or "setpriv" in proc.stderr or "unshare" in proc.stderr:
                pytest.skip(f"no private /proc here: {proc.stderr.strip()}")
            answers.append((proc.returncode, proc.stdout, proc.stderr))
    finally:
        hidden.kill()
        hidden.wait()
    denied = (
        f"kcmpctl: process {hidden.pid}: permission denied (run as the owner of the process,"
        " or as root / with CAP_SYS_PTRACE)\n"
    )
    assert answers == [(2, "", denied)] * 7
