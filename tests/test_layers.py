"""The layers hold: sampling is torch-free (in the learner and in its workers), learning never loads
the physics, and mimic's modules import each other without cycles or private names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "mimic"


def _python(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_sampling_with_a_worker_started_does_not_import_torch():
    """A fresh interpreter: import mimic.sampling, start a worker process, collect; torch is in
    neither process's sys.modules (the worker reports its own in its READY message)."""
    out = _python(
        "import sys\n"
        "import numpy as np\n"
        "from mimic.sampling import ParallelSampler\n"
        "with ParallelSampler('CartPole-v1', num_workers=1, envs_per_worker=2, seed=0, verbose=False) as ps:\n"
        "    eps = ps.collect(lambda o: np.zeros(len(o), np.int64), min_samples=20)\n"
        "    print(len(eps) > 0, ps.workers[0].info.torch_loaded, ps.workers[0].pid is not None,\n"
        "          'torch' in sys.modules)\n"
    )
    assert out == "True False True False"


def test_learning_does_not_import_the_physics():
    out = _python(
        "import sys, mimic.learning\n"
        "print(sorted(m for m in sys.modules\n"
        "             if m == 'pybullet' or m.startswith(('mimic.sim', 'mimic.envs'))))"
    )
    assert out == "[]"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path):
    """(imported module, names) of the imports a module runs when it is imported (not those inside
    functions or under ``if TYPE_CHECKING``)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for sub in [node] if not isinstance(node, (ast.If, ast.Try)) else ast.walk(node):
            if isinstance(sub, ast.Import):
                for alias in sub.names:
                    yield alias.name, []
            elif isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module:
                yield sub.module, [a.name for a in sub.names]


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def test_no_import_cycles_in_the_sampling_and_learning_layers():
    graph = {}
    for name, path in MODULES.items():
        if not name.startswith(("mimic.sampling", "mimic.learning")):
            continue
        deps = set()
        for module, names in _top_level_imports(path):
            # "from package import submodule" needs the submodule, not the package's namespace
            subs = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
            for target in subs if subs and len(subs) == len(names) else [module] + subs:
                if target in MODULES and target != name:
                    deps.add(target)
        graph[name] = deps

    def visit(node, stack, done):
        if node in stack:
            raise AssertionError(" -> ".join(stack[stack.index(node) :] + [node]))
        if node in done or node not in graph:
            return
        for dep in sorted(graph[node]):
            visit(dep, stack + [node], done)
        done.add(node)

    done: set = set()
    for node in sorted(graph):
        visit(node, [], done)
    assert "mimic.sampling.parallel" in done
    # and the layer rule: sampling never imports learning (or torch)
    for name in graph:
        if name.startswith("mimic.sampling"):
            mods = {m for m, _ in _top_level_imports(MODULES[name])}
            assert not any(m.startswith("mimic.learning") or m == "torch" for m in mods), name


@pytest.mark.parametrize("package", ["mimic.sampling", "mimic.learning"])
def test_no_module_takes_another_modules_private_names(package):
    taken = []
    for name, path in MODULES.items():
        if not name.startswith(package):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mimic"):
                taken += [
                    f"{name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not taken
