"""`kcmpctl tree`: every annotation checked against kcmp, on real process families."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from kcmpctl.kcmp import TASK_TYPES, Resource, compare, raw_kcmp
from kcmpctl.matrix import Row
from kcmpctl.render.tree import TIMES, document
from kcmpctl.resources import NS_TYPES
from kcmpctl.tree import Grouping, Node, Share, annotate

from .conftest import Family, run_on_a_terminal, wait_for_state


def task(id_: int, pid: int, ppid: int, tid: int | None, comm: str) -> Row:
    """A compared task as tree reads it: one of matrix's rows (owner unread)."""
    return Row(id_, pid, tid, comm, None, None, False, ppid)


def build(
    tasks: list[Row], groupings: list[Grouping], shown: Iterable[int], *, threads: bool = False
) -> tuple[Node, ...]:
    """The forest as node trees, as the drawn tree and -r read it."""
    return annotate(tasks, groupings, shown, threads=threads).nodes()


Run = Callable[..., tuple[int, str, str]]
NS_NAMES = [ns.cli_name for ns in NS_TYPES]
Doc = dict[str, Any]


def tree_json(kcmpctl: Run, *args: str) -> tuple[int, Doc, str]:
    status, out, err = kcmpctl("tree", "-J", *args)
    return status, json.loads(out), err


def walk(nodes: list[Doc]) -> Iterator[Doc]:
    for node in nodes:
        yield node
        yield from walk(node["threads"])
        yield from walk(node["children"])


def by_pid(doc: Doc) -> dict[int, Doc]:
    return {n["pid"]: n for n in walk(doc["tree"]) if n["tid"] is None}


def expected_share(child: int, parent: int, resource: Resource) -> bool | None:
    """What kcmp itself says: shared, not shared, or null when the child has none."""
    answer = compare(child, parent, resource)
    if child in answer.absent:
        return None
    return answer.shared


def check_against_kcmp(node: Doc, parent: int) -> None:
    """Every answer of *node* (a process or thread) against its parent: by kcmp for
    kcmp's types, by the /proc/PID/ns links for namespace types."""
    me = node["tid"] if node["tid"] is not None else node["pid"]
    for name, value in node["shares"].items():
        holder = node["shares_with"][name]
        if name in NS_NAMES:
            assert value is (ns_link(me, name) == ns_link(parent, name)), (me, name)
            if holder is not None:
                assert value is False
                assert ns_link(me, name) == ns_link(holder, name)
            continue
        resource = Resource.from_name(name)
        assert value == expected_share(me, parent, resource), (me, parent, name)
        assert (value is None) == (name in node["absent"])
        if holder is not None:
            # not the parent's object, but the holder's
            assert value is False
            assert raw_kcmp(me, holder, resource) == 0
            assert holder != parent


def ns_link(pid: int, name: str) -> str:
    """The namespace as readlink shows it (``net:[4026531833]``), not kcmpctl's stat()."""
    return os.readlink(f"/proc/{pid}/ns/{name}")


# -------------------------------------------------------------- real families


def test_each_clone_flag_shares_its_type_only(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family(
        "ioprio",
        "semundo",
        "clone:c_vm:VM",
        "clone:c_files:FILES",
        "clone:c_fs:FS",
        "clone:c_sighand:VM|SIGHAND",
        "clone:c_io:IO",
        "clone:c_sysvsem:SYSVSEM",
        "fork:f",
    )
    status, doc, err = tree_json(kcmpctl, str(fam.pid))
    assert (status, err) == (0, "")
    # default: kcmp's six task types and the eight namespace types
    assert doc["types"] == [r.cli_name for r in TASK_TYPES] + NS_NAMES
    assert doc["missing"] == []
    (root,) = doc["tree"]
    assert root["pid"] == fam.pid
    kids = {c["pid"]: c for c in root["children"]}
    assert set(kids) == {fam[n] for n in fam.values if n.startswith(("c_", "f"))}
    for child in kids.values():
        check_against_kcmp(child, fam.pid)
        assert child["ppid"] == fam.pid
    shared = {
        pid: {t for t, v in c["shares"].items() if v and t not in NS_NAMES}
        for pid, c in kids.items()
    }
    assert all(c["shares"][ns] for c in kids.values() for ns in NS_NAMES)
    assert shared[fam["c_vm"]] == {"vm"}
    assert shared[fam["c_files"]] == {"files"}
    assert shared[fam["c_fs"]] == {"fs"}
    assert shared[fam["c_sighand"]] == {"vm", "sighand"}
    assert shared[fam["c_io"]] == {"io"}
    assert shared[fam["c_sysvsem"]] == {"sysvsem"}
    assert shared[fam["f"]] == set()
    # A fork child gets its own copy of the parent's io_context and no undo list.
    assert kids[fam["f"]]["shares"]["io"] is False
    assert kids[fam["f"]]["shares"]["sysvsem"] is None
    assert kids[fam["f"]]["absent"] == ["sysvsem"]


def test_absent_objects_are_null_never_shared(kcmpctl: Run, family: Callable[..., Family]) -> None:
    # Neither has an io_context nor an undo list: kcmp says 0, which is not sharing.
    fam = family("fork:f")
    assert raw_kcmp(fam["f"], fam.pid, Resource.IO) == 0
    _, doc, _ = tree_json(kcmpctl, str(fam.pid), "-t", "task")
    child = by_pid(doc)[fam["f"]]
    assert child["shares"]["io"] is None
    assert child["shares"]["sysvsem"] is None
    assert child["absent"] == ["io", "sysvsem"]
    check_against_kcmp(child, fam.pid)


def test_sharing_that_skips_a_generation_names_the_holder(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    # mid shares the helper's fd table, clones gc into it, then takes a table of its
    # own: gc holds its grandparent's table, not its parent's.
    fam = family("sub:mid:FILES:clone:gc:FILES,unshare:FILES")
    status, doc, _ = tree_json(kcmpctl, str(fam.pid), "-t", "files,fs")
    assert status == 0
    nodes = by_pid(doc)
    mid, gc = nodes[fam["mid"]], nodes[fam["gc"]]
    assert [c["pid"] for c in nodes[fam.pid]["children"]] == [fam["mid"]]
    assert [c["pid"] for c in mid["children"]] == [fam["gc"]]
    assert gc["shares"] == {"files": False, "fs": False}
    assert gc["shares_with"] == {"files": fam.pid, "fs": None}
    assert mid["shares"] == {"files": False, "fs": False}
    assert mid["shares_with"] == {"files": None, "fs": None}
    check_against_kcmp(mid, fam.pid)
    check_against_kcmp(gc, fam["mid"])

    status, out, _ = kcmpctl("tree", str(fam.pid), "-t", "files")
    assert re.search(rf"`- {fam['gc']} famhelper +files with {fam.pid}$", out, re.M), out


def test_siblings_that_share_what_their_parent_gave_up(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family("clone:a:FILES", "clone:b:FILES", "unshare:FILES", "fork:c")
    _, doc, _ = tree_json(kcmpctl, str(fam.pid), "-t", "files")
    nodes = by_pid(doc)
    assert nodes[fam["a"]]["shares_with"] == {"files": fam["b"]}
    assert nodes[fam["b"]]["shares_with"] == {"files": fam["a"]}
    assert nodes[fam["c"]]["shares_with"] == {"files": None}
    for name in "abc":
        check_against_kcmp(nodes[fam[name]], fam.pid)


def test_threads_under_their_process_and_the_one_that_unshared(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family("tunshare:t1:FILES", "thread:t2", "clone:c:FILES")
    status, doc, _ = tree_json(kcmpctl, str(fam.pid), "--threads", "-t", "task")
    assert status == 0
    (root,) = doc["tree"]
    threads = {t["tid"]: t for t in root["threads"]}
    assert set(threads) == {fam["t1"], fam["t2"]}
    for thread in threads.values():
        assert thread["pid"] == fam.pid
        check_against_kcmp(thread, fam.pid)
    assert threads[fam["t1"]]["shares"]["files"] is False
    assert threads[fam["t1"]]["shares"]["vm"] is True
    assert all(v for v in threads[fam["t2"]]["shares"].values() if v is not None)
    assert [c["pid"] for c in root["children"]] == [fam["c"]]
    assert root["children"][0]["shares"]["files"] is True

    _, out, _ = kcmpctl("tree", str(fam.pid), "--threads", "-t", "vm,files")
    assert re.search(rf"{fam['t1']} \{{famhelper\}} +shares vm +new files$", out, re.M), out
    assert re.search(rf"{fam['t2']} \{{famhelper\}} +shares vm files$", out, re.M), out
    # without --threads, no thread is a node
    _, doc, _ = tree_json(kcmpctl, str(fam.pid))
    assert doc["tree"][0]["threads"] == []


def test_two_hundred_identical_workers_fold(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family(*(f"clone:w{i}:FILES|FS" for i in range(200)), "fork:other")
    workers = sorted(fam[f"w{i}"] for i in range(200))
    status, out, err = kcmpctl("tree", str(fam.pid), "-t", "task")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 3, out
    assert re.fullmatch(
        rf"\|- {TIMES}200 famhelper +shares files fs +new vm sighand"
        rf" +\({workers[0]}, {workers[1]}, …\)",
        lines[1],
    ), lines[1]
    assert lines[2].startswith(f"`- {fam['other']} famhelper")

    _, out, _ = kcmpctl("tree", str(fam.pid), "--no-fold", "-t", "task")
    assert len(out.splitlines()) == 202

    _, doc, _ = tree_json(kcmpctl, str(fam.pid), "-t", "files,fs,io")
    children = doc["tree"][0]["children"]
    assert [c["pid"] for c in children] == sorted([*workers, fam["other"]])
    for child in children:
        if child["pid"] in workers:
            assert child["shares"] == {"files": True, "fs": True, "io": None}
    for child in children[::37]:
        check_against_kcmp(child, fam.pid)


def test_raw_one_line_per_process(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("clone:a:FILES", "fork:f", "name:a b")
    status, out, _ = kcmpctl("tree", str(fam.pid), "-r", "-t", "files,io")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "PID PPID TYPES WITH COMMAND"
    ppid = by_pid(tree_json(kcmpctl, str(fam.pid))[1])[fam.pid]["ppid"]
    assert lines[1:] == [
        f"{fam.pid} {ppid} files=no io=none files:{fam['a']} a\\x20b",
        f"{fam['a']} {fam.pid} files=yes io=none - famhelper",
        f"{fam['f']} {fam.pid} files=no io=none - famhelper",
    ]
    _, out, _ = kcmpctl(
        "tree", str(fam.pid), "-rn", "--threads", "-o", "PID,TID,TYPES", "-t", "files"
    )
    assert out.splitlines() == [
        f"{fam.pid} - files=no",
        f"{fam['a']} - files=yes",
        f"{fam['f']} - files=no",
    ]


def test_zombie_is_not_compared(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("zombie:z")
    wait_for_state(fam["z"], "Z")
    status, doc, _ = tree_json(kcmpctl, str(fam.pid))
    assert status == 0
    z = by_pid(doc)[fam["z"]]
    # A zombie keeps its pid and user namespaces, its parent's here; nothing else.
    assert {t for t, shared in z["shares"].items() if shared is not None} == {"pid", "user"}
    assert z["shares"]["pid"] is z["shares"]["user"] is True
    assert z["unknown"] == "zombie: exited, not yet reaped"


def test_selectors_pick_what_is_shown(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family("sub:mid:0:clone:gc:FILES", "fork:f")
    # gc's parent is not shown: gc is a root, still compared with its parent
    status, doc, _ = tree_json(kcmpctl, "-p", f"{fam.pid},{fam['gc']}", "-t", "files")
    assert status == 0
    roots = {n["pid"]: n for n in doc["tree"]}
    assert set(roots) == {fam.pid, fam["gc"]}
    assert roots[fam["gc"]]["ppid"] == fam["mid"]
    assert roots[fam["gc"]]["shares"] == {"files": True}
    _, out, _ = kcmpctl("tree", "-p", str(fam["gc"]), "-t", "files")
    assert out == f"{fam['gc']} famhelper [ppid {fam['mid']}]  shares files\n"


def test_trouble_is_status_2(kcmpctl: Run) -> None:
    from .conftest import free_pid

    gone = free_pid()
    status, _, err = kcmpctl("tree", str(gone))
    assert status == 2
    assert err == f"kcmpctl: process {gone}: no such process\n"
    status, doc, err = tree_json(kcmpctl, "-p", str(gone))
    assert (status, doc["tree"], doc["missing"]) == (
        2,
        [],
        [{"pid": gone, "reason": "no such process"}],
    )


def test_a_hidden_parent_not_compared_is_said_on_its_childs_line_only(kcmpctl: Run) -> None:
    """A process shown whose parent (not shown) cannot be compared: its line says so,
    and stderr says nothing of a process nobody selected; status 0."""
    import signal
    import subprocess
    import sys

    try:
        raw_kcmp(os.getpid(), 1, Resource.FILES)
    except PermissionError:
        pass
    else:
        pytest.skip("pid 1 can be compared here: no parent that cannot")
    # Double fork: the grandchild (sleep) is handed to pid 1 when its parent exits.
    code = (
        "import os\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.write(w, str(os.getpid()).encode()); os.close(w)\n"
        "        null = os.open(os.devnull, os.O_RDWR)\n"
        "        for fd in (0, 1, 2): os.dup2(null, fd)\n"
        "        os.execvp('sleep', ['sleep', '300'])\n"
        "    os._exit(0)\n"
        "os.close(w); os.wait(); print(os.read(r, 32).decode())\n"
    )
    orphan = int(subprocess.run([sys.executable, "-c", code], capture_output=True).stdout)
    try:
        wait_for_state(orphan, "S")
        with open(f"/proc/{orphan}/stat") as stat:
            ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        if ppid != 1:
            pytest.skip(f"orphans go to a subreaper here ({ppid}), not to pid 1")
        status, out, err = kcmpctl("tree", "-p", str(orphan), "-t", "files")
        assert (status, err) == (0, "")
        assert out == f"{orphan} sleep [ppid 1]  not compared: parent 1: permission denied\n"
    finally:
        os.kill(orphan, signal.SIGKILL)  # pid 1 reaps it


def test_on_a_terminal_a_rich_tree(family: Callable[..., Family]) -> None:
    fam = family("name:x[/]y\x1b[2J", "clone:a:FILES")
    status, screen = run_on_a_terminal("tree", str(fam.pid), "-t", "files", "--color=never")
    assert status == 0
    lines = screen.splitlines()
    assert lines[0].startswith(f"{fam.pid} x[/]y\\x1b[2J")
    assert re.fullmatch(rf"└── {fam['a']} x\[/\]y\\x1b\[2J  shares files", lines[1].strip())


# ----------------------------------------------------------------- pure logic


def node_document(n: Any) -> Doc:
    """What -J says of a node, read from the node (the reference for the text)."""
    holders = dict(n.shares_with)
    return {
        "pid": n.pid,
        "tid": n.tid,
        "ppid": n.ppid,
        "comm": n.comm,
        "shares": {t: s.json for t, s in n.shares},
        "absent": [t for t, s in n.shares if s is Share.NONE],
        "shares_with": {t: holders.get(t) for t, _ in n.shares},
        "unknown": n.unknown,
        "threads": [node_document(t) for t in n.threads],
        "children": [node_document(c) for c in n.children],
    }


def grouping(type_: str, classes: list[tuple[int, ...]], absent=(), skipped=None) -> Grouping:  # type: ignore[no-untyped-def]
    return Grouping(type_, tuple(classes), tuple(absent), skipped or {})


def test_nearest_holder_is_the_closest_in_the_tree() -> None:
    # 1 ─ 2 ─ 3 ─ 4
    #           └ 5
    # files: {1, 4, 5} one object; 2 and 3 each their own
    tasks = [
        task(1, 1, 0, None, "a"),
        *(task(i, i, p, None, "x") for i, p in ((2, 1), (3, 2), (4, 3), (5, 3))),
    ]
    files = grouping("files", [(1, 4, 5), (2,), (3,)])
    (root,) = build(tasks, [files], [1, 2, 3, 4, 5])
    nodes = {n.pid: n for n in root.walk()}
    assert nodes[4].shares_with == (("files", 5),)  # 4-3-5: two steps, 1 is three
    assert nodes[5].shares_with == (("files", 4),)
    assert nodes[1].shares_with == (("files", 4),)  # three steps to 4 and to 5: lower ID
    assert nodes[1].share("files") is Share.UNKNOWN
    assert nodes[2].share("files") is Share.NO
    assert nodes[2].shares_with == ()


def test_unknown_parent_and_absent() -> None:
    tasks = [task(1, 1, 0, None, "a"), task(2, 2, 1, None, "b"), task(3, 3, 2, None, "c")]
    io = grouping("io", [(3,)], absent=(2,), skipped={1: "permission denied"})
    (root,) = build(tasks, [io], [1, 2, 3])
    nodes = {n.pid: n for n in root.walk()}
    assert nodes[1].unknown == "permission denied"
    assert nodes[2].share("io") is Share.NONE
    assert nodes[3].share("io") is Share.NO  # the parent has none, it has one: new
    assert nodes[3].shares_with == ()


def steps(links: dict[int, set[int]], start: int) -> dict[int, int]:
    """Each node reachable from *start* along *links*, with its distance: breadth first."""
    from collections import deque

    seen, queue = {start: 0}, deque([start])
    while queue:
        node = queue.popleft()
        for nxt in links.get(node, ()):
            if nxt not in seen:
                seen[nxt] = seen[node] + 1
                queue.append(nxt)
    return seen


def test_annotations_against_a_node_by_node_reading() -> None:
    """build() answers type by type over all processes at once, with shortcuts for
    the common shapes (every object held once, one object held by all, no objects);
    each answer is checked against the rules read node by node, on random forests
    with hidden parents, tasks not compared and every shape of grouping."""
    import random

    def nearest_other(links: dict[int, set[int]], me: int, cls: tuple[int, ...]) -> int:
        away = steps(links, me)
        return min((m for m in cls if m != me), key=lambda m: (away.get(m, 1 << 30), m))

    rng = random.Random(7)
    shapes = ["alone", "all", "none", "mixed", "mostly-one"]
    for _ in range(400):
        # some past the size from which a few members ask breadth first
        n = rng.randint(1, 60) if rng.random() < 0.9 else rng.randint(100, 160)
        ppid = {
            i: (rng.randint(1, i - 1) if i > 1 and rng.random() < 0.9 else 0)
            for i in range(1, n + 1)
        }
        tasks = [task(i, i, ppid[i], None, f"c{i}") for i in range(1, n + 1)]
        shown = [i for i in range(1, n + 1) if rng.random() < 0.85]
        groupings = []
        for t in ("vm", "files", "io", "net"):
            ids = list(range(1, n + 1))
            skipped = {i: "permission denied" for i in ids if rng.random() < 0.08}
            # Now and then a type that names some task nowhere (not as matrix
            # answers, but build must not take it as compared).
            lost = rng.random() < 0.2
            rest = [i for i in ids if i not in skipped and not (lost and rng.random() < 0.1)]
            shape = rng.choice(shapes)
            absent = [] if shape in ("all", "alone") else [i for i in rest if rng.random() < 0.3]
            if shape == "none":
                absent = rest
            held = [i for i in rest if i not in absent]
            if shape == "alone":
                classes = [(i,) for i in held]
            elif shape == "all":
                classes = [tuple(held)] if held else []
            elif shape == "mostly-one":
                few = [i for i in held if rng.random() < 0.1]
                classes = [c for c in [tuple(i for i in held if i not in few)] if c]
                classes += [(i,) for i in few]
            else:
                labels = {i: rng.randint(0, max(1, n // 3)) for i in held}
                classes = [
                    tuple(i for i in held if labels[i] == v) for v in sorted(set(labels.values()))
                ]
            rng.shuffle(classes)
            groupings.append(grouping(t, classes, absent, skipped))
        forest = annotate(tasks, groupings, shown)
        roots = forest.nodes()
        nodes = {node.pid: node for root in roots for node in root.walk()}
        assert sorted(nodes) == sorted(shown)
        # -J is written from the forest's lists, not the nodes: it says what they do.
        assert json.loads(str(document(forest, [])))["tree"] == [node_document(r) for r in roots]
        links: dict[int, set[int]] = {}
        for child, up in ppid.items():
            if up:
                links.setdefault(child, set()).add(up)
                links.setdefault(up, set()).add(child)
        for pid, node in nodes.items():
            parent = ppid[pid] or None
            answers, holders = dict(node.shares), dict(node.shares_with)
            for g in groupings:
                cls = next((c for c in g.classes if pid in c), None)
                known = {i for c in g.classes for i in c} | set(g.absent)
                if pid not in known:
                    want = Share.UNKNOWN
                elif pid in g.absent:
                    want = Share.NONE
                elif parent is None or parent not in known:
                    want = Share.UNKNOWN
                else:
                    want = Share.YES if cls is not None and parent in cls else Share.NO
                assert answers[g.type] is want, (pid, g, want)
                if cls is not None and len(cls) > 1 and want is not Share.YES:
                    assert holders[g.type] == nearest_other(links, pid, cls), (pid, g)
                else:
                    assert g.type not in holders, (pid, g)


@pytest.mark.parametrize("fold", [True, False])
def test_folding_keeps_different_siblings_apart(fold: bool) -> None:
    from kcmpctl.render.tree import lines

    tasks = [task(1, 1, 0, None, "p"), *(task(i, i, 1, None, "w") for i in range(2, 7))]
    files = grouping("files", [(1, 2, 3, 4), (5,), (6,)])
    roots = build(tasks, [files], range(1, 7))
    (top,) = lines(roots, fold=fold)
    ids = [line.ids for line in top.children]
    assert ids == ([(2, 3, 4), (5, 6)] if fold else [(i,) for i in range(2, 7)])


def test_namespace_boundaries_beside_kcmp_types(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    try:
        fam = family("clone:c:NEWNET|NEWUTS", "clone:d:FILES", "sub:e:NEWNET:clone:x:0")
    except RuntimeError as err:
        pytest.skip(f"this machine does not let a process make namespaces: {err}")

    status, doc, err = tree_json(kcmpctl, str(fam.pid))
    assert (status, err) == (0, "")
    assert doc["types"][6:] == NS_NAMES
    nodes = by_pid(doc)
    for name in ("c", "d", "e", "x"):
        check_against_kcmp(nodes[fam[name]], nodes[fam[name]]["ppid"])
    c, e = nodes[fam["c"]], nodes[fam["e"]]
    assert {t for t, v in c["shares"].items() if v is False} >= {"net", "uts"}
    assert e["shares_with"]["net"] == fam["x"]

    _, out, _ = kcmpctl("tree", str(fam.pid), "-t", "files,ns")
    lines = out.splitlines()
    assert (
        lines[1]
        == f"|- {fam['c']} famhelper  shares mnt pid ipc user cgroup time  new files net uts"
    )
    assert lines[2] == f"|- {fam['d']} famhelper  shares files ns"
    assert lines[3].endswith(f"new files  net with {fam['x']}")


def test_nearest_holder_against_every_distance() -> None:
    """The nearest other holder is the one fewest steps away, the lower ID on a tie,
    the lowest ID of all when none is in the same tree: checked against a breadth-
    first search from each member, on random forests (siblings, chains, several
    roots, members that are ancestors of others)."""
    import random

    from kcmpctl.tree import _Nearest

    rng = random.Random(13)
    for _ in range(300):
        n = rng.randint(2, 80)
        roots = set(rng.sample(range(1, n + 1), rng.randint(1, min(n, 3)))) | {1}
        parent = {i: rng.randint(1, i - 1) for i in range(2, n + 1) if i not in roots}
        if rng.random() < 0.2:  # workers of one parent
            parent = dict.fromkeys(range(2, n + 1), 1)
        cls = tuple(rng.sample(range(1, n + 1), rng.randint(2, min(n, 40))))
        links: dict[int, set[int]] = {}
        for child, up in parent.items():
            links.setdefault(child, set()).add(up)
            links.setdefault(up, set()).add(child)
        nearest = _Nearest(parent)
        for member in cls:
            away = steps(links, member)
            others = [m for m in cls if m != member]
            want = min(others, key=lambda m: (away.get(m, n + 1), m))
            assert nearest.of(cls)[member] == want, (parent, cls, member)
            assert nearest.near(member, cls, set(cls)) == want, (parent, cls, member)


@pytest.mark.parametrize(
    ("name", "comm"),
    [
        ("[red]x[/]", "[red]x[/]"),
        ("\x1b[31mred", "\x1b[31mred"),
        ("two\nlines", "two\nlines"),
        ('q"uote\\d', 'q"uote\\x5cd'),
        ("café ✓", "café ✓"),
        (b"bad\xffname", "bad\\xffname"),
    ],
    ids=["markup", "escape", "newline", "quote-backslash", "unicode", "undecodable"],
)
def test_json_names_as_every_command_writes_them(
    kcmpctl: Run, family: Callable[..., Family], name: str | bytes, comm: str
) -> None:
    """-J is written as text, piece by piece: names come out as json.dumps and the
    escaping rule of every other command make them, piped and indented on a terminal."""
    fam = family(b"name:" + name if isinstance(name, bytes) else f"name:{name}", "fork:c")
    status, doc, _ = tree_json(kcmpctl, str(fam.pid), "-t", "files,io")
    assert status == 0
    nodes = by_pid(doc)
    assert nodes[fam.pid]["comm"] == nodes[fam["c"]]["comm"] == comm
    _, out, _ = kcmpctl("matrix", "-J", "-p", str(fam.pid), "-t", "files")
    assert json.loads(out)["processes"][0]["comm"] == comm
    status, screen = run_on_a_terminal("tree", "-J", str(fam.pid), "-t", "files,io")
    assert status == 0
    assert json.loads(screen) == doc
    assert '\n  "types": [' in screen.replace("\r\n", "\n")


def test_json_text_is_the_document_json_writes() -> None:
    """The text -J writes is, byte for byte, json.dumps of the document (through the
    same escaping): nested threads and children, holders, unknown answers, missing."""
    from kcmpctl.render.text import json_text

    names = ["a\\b", "esc\x1b[31m", "nl\nx", "bad\udcff", "café", "\U0001f600", 'q"', "[x]"]
    tasks = [task(1, 1, 0, None, names[0])]
    tasks += [task(i, i, i - 1, None, names[i - 1]) for i in range(2, len(names) + 1)]
    tasks += [task(100, 5, 4, 100, "thr\\d"), task(101, 5, 4, 101, "t")]
    files = grouping("files", [(1, 3, 100), (2,), (4, 5, 101), (6,), (7,), (8,)])
    io = grouping("io", [(3,)], absent=(2, 4, 5, 6, 7, 8, 100, 101), skipped={1: "denied \\ é"})
    forest = annotate(tasks, [files, io], range(1, 9), threads=True)
    roots = forest.nodes()
    missing = [(9, "no such process"), (10, "weird \\ é")]

    node = node_document

    want = {
        "types": ["files", "io"],
        "tree": [node(r) for r in roots],
        "missing": [{"pid": p, "reason": why} for p, why in missing],
    }
    assert want["tree"][0]["children"][0]["children"][0]["shares_with"] == {"files": 1, "io": None}
    nothing = annotate(tasks, [files, io], [], threads=True)
    for case in (nothing, forest):
        got = document(case, missing)
        expected = {**want, "tree": [node(r) for r in case.nodes()]}
        for indent in (False, True):
            for ascii_only in (False, True):
                assert json_text(got, indent=indent, ascii_only=ascii_only) == json_text(
                    expected, indent=indent, ascii_only=ascii_only
                )


def test_json_of_a_chain_deeper_than_pythons_stack() -> None:
    """A chain of processes each the child of the one before (a fork chain) is
    written without recursion, each list closed where its process ends."""
    import sys

    n = sys.getrecursionlimit() * 3
    tasks = [task(i, i, i - 1, None, "link") for i in range(1, n + 1)]
    files = grouping("files", [tuple(range(1, n + 1))])
    forest = annotate(tasks, [files], range(1, n + 1))
    text = str(document(forest, []))
    assert text.count('"pid": ') == n
    assert text.count('"children": [') == n
    # Each process's children list holds the next, until the last closes them all.
    assert text.endswith('"children": [' + "]}" * n + '], "missing": []}')
    assert text.count('"shares": {"files": true}') == n - 1
