"""`matrix --dot` and `fds --dot`: graphs checked by graphviz's dot where installed, and
structurally always."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from kcmpctl.kcmp import Resource, raw_kcmp
from kcmpctl.render.dot import label, quote
from kcmpctl.render.text import escape_human

from .conftest import Family

Run = Callable[..., tuple[int, str, str]]
HOSTILE = '"]; a -> b [\\N'


@dataclass
class Graph:
    nodes: dict[str, str] = field(default_factory=dict)  # id -> label
    edges: list[tuple[str, str, str | None]] = field(default_factory=list)
    #: cluster name -> (its label, the node IDs in it, nested clusters included)
    clusters: dict[str, tuple[str, set[str]]] = field(default_factory=dict)


_STRING = r'"((?:[^"\\]|\\.)*)"'


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse(text: str) -> Graph:
    """The graph as written: our own lines, one statement each."""
    graph = Graph()
    open_clusters: list[str] = []
    assert text.startswith("digraph ")
    assert text.endswith("}\n")
    for line in text.splitlines()[1:-1]:
        line = line.strip()
        if m := re.fullmatch(r"subgraph (cluster_\w+) \{", line):
            open_clusters.append(m.group(1))
            graph.clusters[m.group(1)] = ("", set())
        elif line == "}":
            open_clusters.pop()
        elif m := re.fullmatch(rf"label={_STRING};", line):
            if open_clusters:
                name = open_clusters[-1]
                graph.clusters[name] = (_unquote(m.group(1)), graph.clusters[name][1])
        elif m := re.fullmatch(rf"(\w+) -> (\w+)(?: \[label={_STRING}\])?;", line):
            graph.edges.append(
                (m.group(1), m.group(2), _unquote(m.group(3)) if m.group(3) else None)
            )
        elif m := re.fullmatch(
            rf"(\w+) \[(?:shape=\w+, )?label={_STRING}(?:, style=\w+)?\];", line
        ):
            graph.nodes[m.group(1)] = _unquote(m.group(2))
            for name in open_clusters:
                graph.clusters[name][1].add(m.group(1))
        else:
            assert re.fullmatch(r"(graph|node|edge) \[.*\];|rankdir=LR;|style=rounded;", line), (
                line
            )
    return graph


def check_with_dot(text: str, graph: Graph) -> None:
    """graphviz reads the same graph: the same nodes, labels, edges and clusters."""
    if shutil.which("dot") is None:
        return
    proc = subprocess.run(["dot", "-Tjson"], input=text, capture_output=True, text=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    doc = json.loads(proc.stdout)
    objects = doc["objects"]
    nodes = {o["name"]: o for o in objects if "nodes" not in o and "edges" not in o}
    names = {o["_gvid"]: o["name"] for o in nodes.values()}
    assert set(nodes) == set(graph.nodes)
    for name, node in nodes.items():
        # dot keeps a label's escapes: "\n" between lines, "\\" for a backslash
        assert node["label"] == quote_label(graph.nodes[name]), name
    edges = sorted((names[e["tail"]], names[e["head"]]) for e in doc.get("edges", []))
    assert edges == sorted((a, b) for a, b, _ in graph.edges)
    clusters = {o["name"]: o for o in objects if "nodes" in o}
    assert set(clusters) == set(graph.clusters)
    for name, (_, members) in graph.clusters.items():
        assert {names[i] for i in clusters[name]["nodes"]} == members


def quote_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def run_dot(kcmpctl: Run, *args: str) -> Graph:
    status, out, err = kcmpctl(*args, "--dot")
    assert err == ""
    assert status in (0, 1)
    graph = parse(out)
    check_with_dot(out, graph)
    return graph


# ----------------------------------------------------------------------- escaping


def test_quote_keeps_names_inside_one_string() -> None:
    # escape_human writes a backslash as \x5c: dot sees no escape of its own
    assert quote(HOSTILE) == '"\\"]; a -> b [\\\\x5cN"'
    assert quote("a\nb\x1b") == '"a\\\\x0ab\\\\x1b"'
    assert label("one", 'two"') == '"one\\ntwo\\""'


def test_a_hostile_name_stays_a_label(kcmpctl: Run, family: Callable[..., Family]) -> None:
    fam = family(f"name:{HOSTILE}", "clone:c:FILES", "open:f:/dev/null", "fork:k")
    graph = run_dot(kcmpctl, "matrix", "--tree", str(fam.pid), "-t", "files")
    name = escape_human(HOSTILE)
    assert graph.nodes[f"p0_{fam['c']}"] == f"{fam['c']} {name}"
    assert len(graph.nodes) == 3
    graph = run_dot(kcmpctl, "fds", "--tree", str(fam.pid))
    tables = [text for node, text in graph.nodes.items() if node.startswith("t")]
    assert f"{fam.pid} {name}\n{fam['c']} {name}" in tables


# ------------------------------------------------------------------------ matrix


def test_matrix_graph_clusters_groups_and_follows_the_tree(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family(
        "clone:a:FILES|FS",
        "clone:b:FILES",
        "clone:v:VM|SIGHAND",
        "sub:mid:0:clone:gc:FS",
        "zombie:z",
    )
    pids = {n: fam[n] for n in ("a", "b", "v", "mid", "gc", "z")} | {"top": fam.pid}
    graph = run_dot(kcmpctl, "matrix", "--tree", str(fam.pid), "-t", "files,fs,io")
    for t, resource in enumerate((Resource.FILES, Resource.FS, Resource.IO)):
        panel_label, members = graph.clusters[f"cluster_{t}"]
        assert panel_label.startswith(f"{resource.cli_name}: ")
        assert members == {f"p{t}_{p}" for p in pids.values()}
        groups = [m for name, (_, m) in graph.clusters.items() if name.startswith(f"cluster_{t}_")]
        for group in groups:
            held = [int(n.split("_")[1]) for n in group]
            assert len(held) > 1
            assert all(raw_kcmp(held[0], p, resource) == 0 for p in held)
        grouped = {int(n.split("_")[1]) for g in groups for n in g}
        absent = {p for p in pids.values() if graph.nodes[f"p{t}_{p}"].endswith("\nnone")}
        alone = set(pids.values()) - grouped - absent - {fam["z"]}
        for p in alone:
            others = set(pids.values()) - {p, fam["z"]} - absent
            assert all(raw_kcmp(p, q, resource) != 0 for q in others)
        assert "not compared" in graph.nodes[f"p{t}_{fam['z']}"]
        # one edge per parent and child, both in the panel
        edges = {(a, b) for a, b, _ in graph.edges if a.startswith(f"p{t}_")}
        children = [fam["a"], fam["b"], fam["v"], fam["mid"], fam["z"]]
        want = {(f"p{t}_{fam.pid}", f"p{t}_{c}") for c in children}
        want.add((f"p{t}_{fam['mid']}", f"p{t}_{fam['gc']}"))
        assert edges == want
    files_groups = [m for n, (_, m) in graph.clusters.items() if n.startswith("cluster_0_")]
    assert files_groups == [{f"p0_{p}" for p in (fam.pid, fam["a"], fam["b"])}]
    fs_groups = [m for n, (_, m) in graph.clusters.items() if n.startswith("cluster_1_")]
    assert sorted(map(sorted, fs_groups)) == sorted(
        map(sorted, [{f"p1_{fam.pid}", f"p1_{fam['a']}"}, {f"p1_{fam['mid']}", f"p1_{fam['gc']}"}])
    )
    assert "none" in graph.nodes[f"p2_{fam['a']}"]  # no io_context: dashed, never a group


def test_dot_is_a_view_of_its_own(kcmpctl: Run) -> None:
    for extra in ("-J", "-r", "--grid"):
        status, _, err = kcmpctl("matrix", "--dot", extra, "-p", "1")
        assert status == 2
        assert "--dot" in err
    status, _, err = kcmpctl("fds", "--dot", "-J", "-p", "1")
    assert (status, "--dot" in err) == (2, True)


# --------------------------------------------------------------------------- fds


def test_fds_graph_three_levels_an_edge_per_fd(
    kcmpctl: Run, family: Callable[..., Family]
) -> None:
    fam = family(
        "open:conf:/dev/null",
        "pipe:p",
        "clone:w:FILES",
        "fork:f",
        "open:again:/dev/null",
    )
    _, out, _ = kcmpctl("fds", "--tree", str(fam.pid), "-J")
    descriptions = json.loads(out)["descriptions"]
    graph = run_dot(kcmpctl, "fds", "--tree", str(fam.pid))
    tables = {n: t for n, t in graph.nodes.items() if n.startswith("t")}
    descs = {n: t for n, t in graph.nodes.items() if n.startswith("d")}
    files = {n: t for n, t in graph.nodes.items() if n.startswith("f")}
    assert set(graph.clusters) == {"cluster_tables", "cluster_descriptions", "cluster_files"}
    assert graph.clusters["cluster_tables"][1] == set(tables)
    # one node per fd table: the helper and its CLONE_FILES child together
    assert sorted(tables.values()) == sorted(
        [f"{fam.pid} famhelper\n{fam['w']} famhelper", f"{fam['f']} famhelper"]
    )
    assert len(descs) == len(descriptions)
    # files by inode: the pipe's two ends are two descriptions of one file
    inodes = {(d["dev"], d["ino"]) for d in descriptions}
    assert len(files) == len(inodes)
    pipe_ino = next(
        d["ino"]
        for d in descriptions
        if d["target"].startswith("pipe:") and sum(e["ino"] == d["ino"] for e in descriptions) == 2
    )
    (pipe,) = [n for n, t in files.items() if t.endswith(f"pipe:[{pipe_ino}]")]
    assert sum(1 for _, b, _ in graph.edges if b == pipe) == 2
    table_of = {t.split("\n")[0].split()[0]: n for n, t in tables.items()}
    want = set()
    for d, desc in enumerate(descriptions):
        for holder in desc["holders"]:
            if str(holder["pid"]) in table_of:
                want.add((table_of[str(holder["pid"])], f"d{d}", f"fd {holder['fd']}"))
    fd_edges = {e for e in graph.edges if e[0].startswith("t")}
    assert fd_edges == want
    file_edges = [e for e in graph.edges if e[0].startswith("d")]
    assert len(file_edges) == len(descriptions)
    by_path = {files[b].split("\n")[1] for _, b, _ in file_edges}
    assert "/dev/null" in by_path
    # the second open of /dev/null is its own description, held by one table only:
    # not drawn, as fds does not list it
    null = [d for d in descriptions if d["target"] == "/dev/null"]
    assert all(len(d["tables"]) >= 2 for d in null)
    # offset and flags in the table's own words (O_WRONLY|O_APPEND, no O_LARGEFILE)
    _, table, _ = kcmpctl("fds", "--tree", str(fam.pid), "-r", "-n", "-o", "POS,FLAGS")
    rows = [line.split() for line in table.splitlines()]
    assert len(rows) == len(descriptions)
    for d, (pos, flags) in enumerate(rows):
        assert descs[f"d{d}"] == f"pos {pos}\nflags {flags}"
    assert not any("0o" in label for label in descs.values())


@pytest.mark.parametrize("command", ["matrix", "fds"])
def test_dot_renders_an_svg(command: str, kcmpctl: Run, family: Callable[..., Family]) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed")
    fam = family("clone:w:FILES", "fork:f")
    _, out, _ = kcmpctl(command, "--tree", str(fam.pid), "--dot")
    proc = subprocess.run(["dot", "-Tsvg"], input=out, capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stdout.lstrip().startswith("<?xml")
    assert f"{fam['w']} famhelper" in proc.stdout
