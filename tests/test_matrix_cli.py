"""`kcmpctl matrix` from the command line: statuses, JSON, grids, groups, raw, quiet."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
from collections.abc import Callable

import pytest

from kcmpctl.kcmp import Resource
from kcmpctl.matrix import Matrix, Row, Skip, TypeResult
from kcmpctl.render import matrix as view
from kcmpctl.render.terminal import Terminal
from kcmpctl.render.text import json_text

from .conftest import Family, wait_for_state

Run = Callable[..., tuple[int, str, str]]


def as_json(kcmpctl: Run, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    status, out, err = kcmpctl("matrix", "-J", *args)
    return status, json.loads(out), err


def resource(doc: dict, name: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in doc["resources"] if r["type"] == name)


# ------------------------------------------------------------------------ JSON


def test_json_shape_and_families(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("clone:a:FILES|FS", "fork:f", "zombie:z", "name:web")
    status, doc, err = as_json(kcmpctl, "--tree", str(fam.pid))
    assert (status, err) == (1, "")
    assert set(doc) == {"processes", "resources", "missing"}
    assert doc["missing"] == []
    procs = {p["pid"]: p for p in doc["processes"]}
    assert set(procs) == {fam.pid, fam["a"], fam["f"], fam["z"]}
    assert procs[fam.pid] == {
        "pid": fam.pid,
        "tid": None,
        "comm": "web",
        "user": "root" if os.getuid() == 0 else procs[fam.pid]["user"],
        "uid": os.getuid(),
        "kthread": False,
    }
    assert [r["type"] for r in doc["resources"]] == [
        "vm",
        "files",
        "fs",
        "sighand",
        "io",
        "sysvsem",
    ]
    for r in doc["resources"]:
        assert set(r) == {"type", "kind", "order", "groups", "absent", "skipped", "namespaces"}
        assert (r["kind"], r["namespaces"]) == ("kcmp", None)
        assert r["skipped"] == [
            {"pid": fam["z"], "tid": None, "reason": "zombie: exited, not yet reaped"}
        ]
        # every group is a run of `order`, in `order`'s order
        for group in r["groups"]:
            start = r["order"].index(group[0])
            assert r["order"][start : start + len(group)] == group
    files = resource(doc, "files")
    assert files["groups"] == [sorted([fam.pid, fam["a"]])]
    assert sorted(files["order"]) == sorted([fam.pid, fam["a"], fam["f"]])
    io_ = resource(doc, "io")
    assert (io_["order"], io_["groups"]) == ([], [])
    assert sorted(io_["absent"]) == sorted([fam.pid, fam["a"], fam["f"]])


def test_json_with_threads_names_thread_ids(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("thread:t")
    _, doc, _ = as_json(kcmpctl, "-p", str(fam.pid), "--threads", "-t", "vm")
    rows = {p["tid"]: p for p in doc["processes"]}
    assert {fam.pid, fam["t"]} <= set(rows)
    assert all(p["pid"] == fam.pid for p in doc["processes"])
    assert resource(doc, "vm")["groups"] == [sorted(rows)]


# ------------------------------------------------------------------ exit status


def test_status_0_when_everything_shares_each_type(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family("ioprio", "semundo", "clone:a:VM|FILES|FS|SIGHAND|IO|SYSVSEM")
    status, out, err = kcmpctl("matrix", "-p", f"{fam.pid},{fam['a']}", "-q")
    assert (status, out, err) == (0, "", "")


def test_status_1_when_not(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("clone:a:FILES", "fork:f")
    assert kcmpctl("matrix", "-p", f"{fam.pid} {fam['a']}", "-t", "files", "-q")[0] == 0
    assert kcmpctl("matrix", "-p", f"{fam.pid} {fam['f']}", "-t", "files", "-q")[0] == 1
    # io: neither has one; having none is not sharing
    assert kcmpctl("matrix", "-p", f"{fam.pid} {fam['a']}", "-t", "io", "-q")[0] == 1


def test_a_named_pid_that_cannot_be_compared_is_trouble(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family("zombie:z", "fork:f")
    status, out, err = kcmpctl("matrix", "-p", f"{fam['f']},{fam['z']}", "-t", "vm", "-r")
    assert status == 2
    assert err == f"kcmpctl: process {fam['z']}: zombie: exited, not yet reaped\n"
    assert out.startswith("TYPE SIZE PIDS COMMANDS\n")


def test_a_named_pid_that_does_not_exist_is_trouble(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    fam = family("fork:f")
    status, doc, err = as_json(kcmpctl, "-p", f"{fam['f']},{gone.pid}")
    assert status == 2
    assert err == f"kcmpctl: process {gone.pid}: no such process\n"
    assert doc["missing"] == [{"pid": gone.pid, "reason": "no such process"}]
    assert [p["pid"] for p in doc["processes"]] == [fam["f"]]


def test_pid_1_named_is_trouble_found_by_a_selector_is_not(kcmpctl: Run) -> None:
    with open("/proc/1/comm") as f:
        comm = f.read().strip()
    status, doc, err = as_json(kcmpctl, "-p", "1", "-t", "sighand")
    if not resource(doc, "sighand")["skipped"]:
        pytest.skip("pid 1 is accessible here")
    assert status == 2
    assert err.startswith("kcmpctl: process 1: permission denied (run as the owner")
    assert resource(doc, "sighand")["skipped"] == [
        {"pid": 1, "tid": None, "reason": "permission denied"}
    ]
    status, doc, err = as_json(kcmpctl, "-c", f"^{re.escape(comm)}$", "-t", "sighand")
    assert (status, err) == (1, "")
    assert {"pid": 1, "tid": None, "reason": "permission denied"} in resource(doc, "sighand")[
        "skipped"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["matrix"],
        ["matrix", "-r"],
        ["matrix", "-q"],
        ["matrix", "--grid"],
        ["matrix", "--groups"],
        ["fds"],
        ["fds", "-r"],
        ["fds", "-q"],
        ["tree"],
        ["tree", "-r"],
        ["tree", "-q"],
    ],
    ids=" ".join,
)
def test_nothing_selected_prints_nothing_and_exits_1(kcmpctl: Run, args: list[str]) -> None:
    assert kcmpctl(*args, "-c", "^no such process name$") == (1, "", "")


def test_nothing_selected_in_json(kcmpctl: Run) -> None:
    status, out, err = kcmpctl("matrix", "-c", "^no such process name$", "-J", "-t", "vm")
    assert (status, err) == (1, "")
    assert json.loads(out) == {
        "processes": [],
        "resources": [
            {
                "type": "vm",
                "kind": "kcmp",
                "order": [],
                "groups": [],
                "absent": [],
                "skipped": [],
                "namespaces": None,
            }
        ],
        "missing": [],
    }
    status, out, err = kcmpctl("fds", "-c", "^no such process name$", "-J")
    assert (status, err) == (1, "")
    assert json.loads(out) == {"descriptions": [], "skipped": []}


def test_the_whole_machine_by_default(kcmpctl: Run) -> None:
    status, doc, _ = as_json(kcmpctl, "-t", "sighand")
    assert status == 1
    assert os.getpid() in {p["pid"] for p in doc["processes"]}


@pytest.mark.parametrize(
    "args",
    [
        ["-p", ",,"],
        ["-p", "1,,x"],
        ["-p", ""],
        ["--tree", "-5"],
        ["-t", "nosuch"],
        ["-t", "file"],
        ["-p", "2147483648"],
        ["-u", "no-such-user-here"],
        ["-c", "("],
        ["--grid", "--groups"],
        ["--grid", "-o", "SIZE"],
        ["-o", "NOPE"],
        ["-J", "-r"],
        ["extra"],
    ],
)
def test_bad_input_is_one_line_and_status_2(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], args: list[str]
) -> None:
    proc = run_cli("matrix", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("kcmpctl: ")
    assert proc.stderr.count("\n") == 1, proc.stderr


# ---------------------------------------------------------------- the views


def fixed() -> Matrix:
    """Three nginx workers, a shell, a kernel thread, pid 1 denied."""
    rows = (
        Row(1, 1, None, "init", 0, "root", False),
        Row(2, 2, None, "kthreadd", 0, "root", True),
        Row(10, 10, None, "nginx", 33, "www-data", False),
        Row(11, 11, None, "nginx", 33, "www-data", False),
        Row(12, 12, None, "nginx", 33, "www-data", False),
        Row(20, 20, None, "bash", 1000, "ann", False),
    )
    denied = (Skip(1, "permission denied"),)
    return Matrix(
        rows,
        (
            TypeResult(Resource.VM, ((11,), (20,), (10,), (12,)), (2,), denied),
            TypeResult(Resource.FILES, ((20,), (10, 11, 12), (2,)), (), denied),
            TypeResult(Resource.IO, (), (2, 10, 11, 12, 20), denied),
        ),
    )


def test_uncompared_names_only_processes_nothing_of_which_was_compared() -> None:
    threads = Matrix(
        (
            Row(5, 5, 5, "app", 0, "root", False),  # a leader thread that exited
            Row(6, 5, 6, "app", 0, "root", False),
            Row(7, 7, 7, "other", 0, "root", False),
        ),
        (TypeResult(Resource.VM, ((6,),), (), (Skip(5, "exited"), Skip(7, "permission denied"))),),
    )
    assert threads.uncompared([5, 7, 9]) == {7: "permission denied"}
    assert fixed().uncompared([1, 2, 10]) == {1: "permission denied"}


def render(mode: str, draw: Callable[[Terminal], None], headings: bool = True) -> str:
    out = io.StringIO()
    draw(Terminal(mode, color="never", headings=headings, stdout=out, stderr=io.StringIO()))
    return out.getvalue()


def test_grid_plain() -> None:
    text = render("human", lambda t: view.print_grid(t, fixed()))
    assert text == (
        "vm: address space (mm_struct); no groups; 4 sharing with nobody; 1 without one;"
        " 1 not compared\n"
        "# PID COMMAND  1 2 3 4 5 6\n"
        "1  11 nginx    = < < < . ?\n"
        "2  20 bash     > = < < . ?\n"
        "3  10 nginx    > > = < . ?\n"
        "4  12 nginx    > > > = . ?\n"
        "5   2 kthreadd . . . . . ?\n"
        "6   1 init     ? ? ? ? ? ?  permission denied\n"
        "\n"
        "files: file descriptor table (files_struct); 1 group (3 processes);"
        " 2 sharing with nobody; 1 not compared\n"
        "# PID COMMAND  1 2 3 4 5 6\n"
        "1  20 bash     = < < < < ?\n"
        "2  10 nginx    > = = = < ?\n"
        "3  11 nginx    > = = = < ?\n"
        "4  12 nginx    > = = = < ?\n"
        "5   2 kthreadd > > > > = ?\n"
        "6   1 init     ? ? ? ? ? ?  permission denied\n"
        "\n"
        "io: I/O context (io_context); no groups; 5 without one; 1 not compared\n"
        "# PID COMMAND  1 2 3 4 5 6\n"
        "1   2 kthreadd . . . . . ?\n"
        "2  10 nginx    . . . . . ?\n"
        "3  11 nginx    . . . . . ?\n"
        "4  12 nginx    . . . . . ?\n"
        "5  20 bash     . . . . . ?\n"
        "6   1 init     ? ? ? ? ? ?  permission denied\n"
        "\n"
        f"{view.legend(False)}\n"
    )


def test_grid_raw() -> None:
    text = render("raw", lambda t: view.print_grid(t, fixed()))
    lines = text.splitlines()
    assert lines[0] == "TYPE PID COMMAND CELLS"
    assert lines[1:4] == ["vm 11 nginx =<<<.?", "vm 20 bash >=<<.?", "vm 10 nginx >>=<.?"]
    assert "files 10 nginx >===<?" in lines
    assert len(lines) == 1 + 3 * 6


def test_groups_plain() -> None:
    columns = [c for c in view.COLUMNS if c.name in view.DEFAULTS]
    text = render("human", lambda t: view.print_groups(t, fixed(), columns))
    assert text == (
        "TYPE  SIZE PIDS     COMMANDS\n"
        f"files    3 10,11,12 nginx {view.TIMES}3\n"
        "\n"
        "TYPE  GROUPS SHARING ALONE WITHOUT SKIPPED\n"
        "vm         0       0     4       1       1\n"
        "files      1       3     2       0       1\n"
        "io         0       0     0       5       1\n"
        "not compared (permission denied): 1 init\n"
    )


def test_groups_raw_one_line_per_group() -> None:
    columns = [c for c in view.COLUMNS if c.name in ("TYPE", "GROUP", "SIZE", "PIDS", "USERS")]
    text = render("raw", lambda t: view.print_groups(t, fixed(), columns), headings=False)
    assert text == "files 1 3 10,11,12 www-data,www-data,www-data\n"


def test_json_of_fixed_results() -> None:
    doc = json.loads(json_text(view.document(fixed())))
    vm = doc["resources"][0]
    assert vm == {
        "type": "vm",
        "kind": "kcmp",
        "namespaces": None,
        "order": [11, 20, 10, 12],
        "groups": [],
        "absent": [2],
        "skipped": [{"pid": 1, "tid": None, "reason": "permission denied"}],
    }
    assert doc["resources"][1]["groups"] == [[10, 11, 12]]
    assert doc["processes"][1] == {
        "pid": 2,
        "tid": None,
        "comm": "kthreadd",
        "user": "root",
        "uid": 0,
        "kthread": True,
    }


def test_json_streamed_is_the_text_of_the_dicts() -> None:
    """The process records written as text say what json.dumps of the dicts says,
    names that need escaping included."""
    odd = ('a"b', "back\\slash", "new\nline", "bytes\udcff\udc80", "\u00e9t\u00e9", "\x1b[31m")
    rows = tuple(
        Row(
            100 + n,
            100 + n,
            100 + n if n % 2 else None,
            comm,
            n or None,
            comm if n else None,
            n == 3,
        )
        for n, comm in enumerate(odd)
    )
    m = Matrix(rows, (TypeResult(Resource.VM, tuple((r.id,) for r in rows)),))
    streamed = render("json", lambda t: t.json(view.document(m, stream=True)))
    assert streamed == json_text(view.document(m))
    assert json.loads(streamed)["processes"][1]["comm"] == "back\\x5cslash"


def test_small_selection_shows_a_grid_larger_shows_groups(
    kcmpctl: Run, family: Callable[..., Family], monkeypatch: pytest.MonkeyPatch
) -> None:
    fam = family("clone:a:FILES", "fork:f")
    status, out, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files")
    assert status == 1
    assert out.startswith("files: file descriptor table (files_struct); 1 group (2 processes)")
    assert out.endswith(view.legend(False) + "\n")
    assert "namespace" not in out  # none shown: nothing said of their order
    _, with_ns, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files,uts", "--grid")
    assert with_ns.endswith(view.legend(True) + "\n")
    assert "(a namespace's: by inode)" in view.legend(True)
    monkeypatch.setenv("COLUMNS", "20")  # the grid no longer fits
    _, out, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files")
    heading, table = out.split("\n", 1)
    assert re.fullmatch(
        r"the grid \(\d+ columns\) does not fit the terminal \(20 columns\): the groups"
        r" instead \(--grid shows the grid\)",
        heading,
    )
    assert table.startswith("TYPE  SIZE PIDS")
    assert f"famhelper {view.TIMES}2" in table
    _, forced, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files", "--grid")
    assert forced.startswith("files: ")
    _, chosen, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files", "--groups")
    assert chosen.startswith("TYPE  SIZE PIDS")  # asked for: no heading


def test_columns_and_quiet(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("name:srv", "clone:a:FILES")
    status, out, _ = kcmpctl(
        "matrix", "--tree", str(fam.pid), "-t", "files", "-r", "-o", "+USERS,GROUP"
    )
    user = out.splitlines()[1].split()[4].split(",")[0]
    pids = ",".join(map(str, sorted([fam.pid, fam["a"]])))
    assert out == f"TYPE SIZE PIDS COMMANDS USERS GROUP\nfiles 2 {pids} srv,srv {user},{user} 1\n"
    assert kcmpctl("matrix", "--tree", str(fam.pid), "-q")[1] == ""
    status, out, _ = kcmpctl("matrix", "-H", "-J")
    assert status == 0
    assert [c["key"] for c in json.loads(out)["columns"]] == [
        "type",
        "group",
        "size",
        "pids",
        "commands",
        "users",
        "kind",
        "args",
        "ppid",
        "started",
    ]


@pytest.mark.parametrize(
    ("name", "shown"),
    [("[red]x[/]", "[red]x[/]"), ("a\x1b[2Jb", "a\\x1b[2Jb"), ("two\nlines", "two\\x0alines")],
)
def test_hostile_names_are_escaped(
    kcmpctl: Run, family: Callable[..., Family], name: str, shown: str
) -> None:
    fam = family(f"name:{name}", "clone:a:FILES")
    for view_flag in ("--grid", "--groups"):
        _, out, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files", view_flag)
        assert shown in out
        assert "\x1b" not in out
    _, out, _ = kcmpctl("matrix", "--tree", str(fam.pid), "-t", "files", "-r", "-n")
    assert shown.replace(" ", "\\x20") in out
    _, doc, _ = as_json(kcmpctl, "--tree", str(fam.pid), "-t", "files")
    assert {p["comm"] for p in doc["processes"]} == {name}


def test_no_progress_bar_unless_stderr_is_a_terminal(
    run_cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    proc = run_cli("matrix", "-J", "-t", "sighand")
    assert proc.returncode == 1
    assert proc.stderr == ""


def test_progress_bar_waits_for_its_delay() -> None:
    import pty
    import select

    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as tty:
        out = Terminal("human", stdout=io.StringIO(), stderr=tty)
        late = view.ScanProgress(out, total=100, delay=3600)
        late(50)
        late.close()
        tty.flush()
        os.set_blocking(master, False)
        with pytest.raises(BlockingIOError):
            os.read(master, 1)
        now = view.ScanProgress(out, total=100, delay=0)
        now(50)
        now.close()
        tty.flush()
        # The pty hands the bar over in pieces (a first read may hold only the
        # cursor's escape): read until it is all there, or nothing more comes.
        shown = ""
        while "kcmpctl: comparing" not in shown and select.select([master], [], [], 5)[0]:
            shown += os.read(master, 1 << 16).decode()
    os.close(master)
    assert "kcmpctl: comparing" in shown


def test_a_named_process_whose_leader_exited_is_no_trouble_with_threads(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family("thread:t", "leaderexit")
    wait_for_state(fam.pid, "Z")
    status, doc, err = as_json(kcmpctl, "-p", str(fam.pid), "--threads", "-t", "vm")
    assert (status, err) == (1, "")  # the dead leader thread is not compared: not "same"
    vm = resource(doc, "vm")
    assert vm["skipped"] == [
        {"pid": fam.pid, "tid": fam.pid, "reason": "zombie: exited, not yet reaped"}
    ]
    assert fam["t"] in vm["order"]
    status, doc, err = as_json(kcmpctl, "-p", str(fam.pid), "-t", "vm")
    assert (status, err) == (0, "")
    assert resource(doc, "vm")["order"] == [fam.pid]


def test_groups_of_one_size_by_first_pid() -> None:
    # kcmp's order puts (30, 31) before (5, 6): the view lists (5, 6) first all the same
    rows = tuple(Row(i, i, None, "w", 0, "root", False) for i in (5, 6, 30, 31, 40, 41, 42))
    result = TypeResult(Resource.FILES, ((30, 31), (40, 41, 42), (5, 6)), (), ())
    records = view.group_records(Matrix(rows, (result,)))
    assert [(r["group"], r["pids"]) for r in records] == [
        (1, [40, 41, 42]),
        (2, [5, 6]),
        (3, [30, 31]),
    ]


def test_fold_names() -> None:
    t = view.TIMES
    assert view.fold_names(["fam24"] * 5) == [f"fam24 {t}5"]
    assert view.fold_names(["a", "b", "a"]) == [f"a {t}2", "b"]


def test_grid_on_a_terminal_is_a_rich_table_with_dim_order(family: Callable[..., Family]) -> None:
    from .conftest import run_on_a_terminal

    fam = family("clone:a:FILES", "fork:f")
    status, screen = run_on_a_terminal(
        "matrix", "--tree", str(fam.pid), "-t", "files", "--color=always"
    )
    assert status == 1
    lines = screen.splitlines()
    assert "\x1b[1m#" in lines[1] or "#" in lines[1]
    cells = "".join(lines[2:5])
    assert "\x1b[2m<" in cells  # dimmed
    assert "\x1b[2m>" in cells
    assert "\x1b[32m=" in cells  # one object: green
    plain = re.sub("\x1b\\[[0-9;]*m", "", screen).splitlines()
    assert re.fullmatch(r"# +PID COMMAND +1 2 3 *", plain[1])
