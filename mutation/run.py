"""Mutation testing of the pure modules, one module at a time, with only its own tests.

Usage (from the repository root, with the project's virtualenv)::

    python mutation/run.py                       # every module in modules.toml
    python mutation/run.py fetch/retry secrets   # a subset
    python mutation/run.py --show fetch/retry    # also print each surviving mutant's diff

For each module this copies ``src/``, ``tests/`` and ``pyproject.toml`` into a fresh
``mutation/.work/<module>/``, writes a mutmut configuration there that mutates only
that module and runs only its tests, runs mutmut, and reads the results back.

The score is the share of *non-equivalent* mutants the tests detect (killed, timed
out or rejected by the type checker). Equivalent mutants — those no test can tell
apart from the original — are listed by name, with the reason, in EQUIVALENT.md;
mutant names are stable as long as the module's source is unchanged, and each entry
records the mutated line, checked against the mutant of that name (an entry that no
longer matches is ignored, so the mutant counts). Exits 1 when a module scores below
its ``min_score``, when a module or its tests are missing, or when EQUIVALENT.md
lists a mutant that the tests in fact detect (a stale entry).
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
CONFIG = HERE / "modules.toml"
EQUIVALENT = HERE / "EQUIVALENT.md"

DETECTED = {"killed", "timeout", "caught by type check", "segfault"}
_EXIT_STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}
_EQUIVALENT_NAME = re.compile(r"^- `(scrapeline\.[^`\s]+__mutmut_\d+)`\s*$")
_EQUIVALENT_CHANGE = re.compile(r"^\s+- change: `(.*)`\s*$")


@dataclass
class Result:
    module: str
    status_by_mutant: dict[str, str] = field(default_factory=dict)
    equivalent: set[str] = field(default_factory=set)
    mismatched: list[str] = field(default_factory=list)
    """Entries of EQUIVALENT.md whose recorded change is not what the mutant now does."""
    error: str | None = None

    @property
    def total(self) -> int:
        return len(self.status_by_mutant)

    @property
    def equivalent_present(self) -> set[str]:
        return self.equivalent & self.status_by_mutant.keys()

    @property
    def detected(self) -> int:
        return sum(
            1
            for name, status in self.status_by_mutant.items()
            if status in DETECTED and name not in self.equivalent
        )

    @property
    def undetected(self) -> list[str]:
        return sorted(
            name
            for name, status in self.status_by_mutant.items()
            if status not in DETECTED and name not in self.equivalent
        )

    @property
    def stale_equivalents(self) -> list[str]:
        return sorted(n for n in self.equivalent_present if self.status_by_mutant[n] in DETECTED)

    @property
    def score(self) -> float:
        judged = self.total - len(self.equivalent_present)
        return self.detected / judged if judged else 1.0


def load_equivalents() -> dict[str, str]:
    """Mutant name -> the mutated line recorded for it in EQUIVALENT.md."""
    found: dict[str, str] = {}
    if not EQUIVALENT.exists():
        return found
    name = None
    for line in EQUIVALENT.read_text("utf-8").splitlines():
        if m := _EQUIVALENT_NAME.match(line):
            name = m[1]
            found[name] = ""
        elif name and (m := _EQUIVALENT_CHANGE.match(line)):
            found[name] = m[1].strip()
            name = None
    return found


def mutant_change(mutmut: Path, workdir: Path, name: str) -> str:
    """The mutated line(s) of a mutant, as ``mutmut show`` prints them."""
    shown = subprocess.run([str(mutmut), "show", name], cwd=workdir, capture_output=True, text=True)
    added = [
        line[1:].strip()
        for line in shown.stdout.splitlines()
        if line.startswith("+") and not line.startswith("+++")
    ]
    return " / ".join(added)


def expand_tests(patterns: list[str]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        matches = (
            sorted(glob.glob(pattern, root_dir=ROOT)) if glob.has_magic(pattern) else [pattern]
        )
        found.extend(m for m in matches if (ROOT / m).exists() and m not in found)
    return found


def mutmut_config(source: str, tests: list[str], pytest_args: list[str]) -> str:
    def lines(values: list[str]) -> str:
        return "".join(f"\n    {value}" for value in values)

    return (
        "[mutmut]\n"
        "source_paths = src\n"
        f"only_mutate = {source}\n"
        f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
        f"pytest_add_cli_args ={lines(pytest_args)}\n"
        "use_git_change_detection = false\n"
    )


def prepare(workdir: Path, config_text: str) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".mypy_cache")
    shutil.copytree(ROOT / "src", workdir / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", workdir / "tests", ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", workdir / "pyproject.toml")
    (workdir / "setup.cfg").write_text(config_text, "utf-8")


def read_results(workdir: Path, source: str) -> dict[str, str]:
    meta = workdir / "mutants" / f"{source}.meta"
    data = json.loads(meta.read_text("utf-8"))
    return {
        name: _EXIT_STATUS.get(code, "not checked" if code is None else "suspicious")
        for name, code in data["exit_code_by_key"].items()
    }


def run_module(
    module: str, spec: dict[str, object], defaults: dict[str, object], args: argparse.Namespace
) -> Result:
    result = Result(module=module)
    source = str(spec["source"])
    tests = expand_tests([str(t) for t in spec["tests"]])  # type: ignore[attr-defined]
    if not (ROOT / source).exists():
        result.error = f"source {source} does not exist"
        return result
    if not tests:
        result.error = f"no tests found for {spec['tests']}"
        return result
    pytest_args = [str(a) for a in defaults.get("pytest_args", [])]  # type: ignore[attr-defined]
    workdir = WORK / module.replace("/", "-")
    prepare(workdir, mutmut_config(source, tests, pytest_args))
    mutmut = Path(sys.executable).parent / "mutmut"
    command = [str(mutmut), "run", "--max-children", str(args.max_children)]
    print(f"== {module}: mutating {source}, judged by {' '.join(tests)}", flush=True)
    log = workdir / "mutmut.log"
    with log.open("w") as out:
        done = subprocess.run(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        result.error = f"mutmut exited {done.returncode}; see {log.relative_to(ROOT)}"
        return result
    result.status_by_mutant = read_results(workdir, source)
    for name, change in load_equivalents().items():
        if name not in result.status_by_mutant:
            continue
        if mutant_change(mutmut, workdir, name) == change:
            result.equivalent.add(name)
        else:
            result.mismatched.append(name)
    if args.show:
        for name in result.undetected:
            shown = subprocess.run(
                [str(mutmut), "show", name], cwd=workdir, capture_output=True, text=True
            )
            print(shown.stdout)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="modules from modules.toml (default: all)")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant workers")
    parser.add_argument("--show", action="store_true", help="print each undetected mutant")
    args = parser.parse_args()

    config = tomllib.loads(CONFIG.read_text("utf-8"))
    defaults: dict[str, object] = config.get("defaults", {})
    specs: dict[str, dict[str, object]] = config["modules"]
    chosen = args.modules or list(specs)
    unknown = [m for m in chosen if m not in specs]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(specs)}")
        return 2

    failed = False
    results = []
    for module in chosen:
        result = run_module(module, specs[module], defaults, args)
        results.append(result)
        min_score = float(specs[module].get("min_score", defaults.get("min_score", 0.95)))  # type: ignore[arg-type]
        if result.error:
            print(f"   {module}: ERROR {result.error}")
            failed = True
            continue
        verdict = "ok" if result.score >= min_score else f"BELOW {min_score:.0%}"
        print(
            f"   {module}: {result.detected}/{result.total - len(result.equivalent_present)} "
            f"non-equivalent mutants detected ({result.score:.1%}), "
            f"{len(result.equivalent_present)} equivalent, {result.total} in all: {verdict}"
        )
        for name in result.undetected:
            print(f"      undetected: {name} ({result.status_by_mutant[name]})")
        for name in result.mismatched:
            print(f"      EQUIVALENT.md entry does not match the mutant (counted): {name}")
        for name in result.stale_equivalents:
            print(f"      listed as equivalent but detected (remove it from EQUIVALENT.md): {name}")
        failed |= result.score < min_score or bool(result.stale_equivalents)

    print()
    print(f"{'module':<18}{'detected':>10}{'judged':>8}{'equiv.':>8}{'score':>9}")
    for r in results:
        if r.error:
            print(f"{r.module:<18}{'error':>10}")
            continue
        judged = r.total - len(r.equivalent_present)
        print(
            f"{r.module:<18}{r.detected:>10}{judged:>8}{len(r.equivalent_present):>8}{r.score:>9.1%}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
