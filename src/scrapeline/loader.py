"""Load a pipeline from a Python file, or from a module name with ``module:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from pathlib import Path

from scrapeline.errors import PipelineError
from scrapeline.pipeline import Pipeline


def load_pipeline(target: str) -> Pipeline:
    """Import ``target`` and return the Pipeline it declares.

    ``target`` is a path to a .py file (``pipelines/football.py``, optionally
    ``path.py:name``) or a module (``scrapeline.demo.football:pipe``). Raises
    PipelineError in one line when the file is missing, does not import (naming
    ``file:line``), or declares no pipeline (or several, without a ``:name``).
    See :func:`split_target` for how a ``:`` in the target is read.
    """
    spec, attribute = split_target(target)
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        module = _import_file(Path(spec))
    else:
        try:
            module = importlib.import_module(spec)
        except ImportError as exc:
            raise PipelineError(f"cannot import pipeline module {spec!r}: {exc}") from exc
    if attribute:
        found = getattr(module, attribute, None)
        if not isinstance(found, Pipeline):
            raise PipelineError(f"{spec} has no Pipeline named {attribute!r}")
        found.validate()
        return found
    pipelines = [v for v in vars(module).values() if isinstance(v, Pipeline)]
    unique = list({id(p): p for p in pipelines}.values())
    if not unique:
        raise PipelineError(f"{spec} declares no Pipeline (pipe = Pipeline(...))")
    if len(unique) > 1:
        names = ", ".join(p.name for p in unique)
        raise PipelineError(
            f"{spec} declares several pipelines ({names}): name one with {spec}:NAME"
        )
    unique[0].validate()
    return unique[0]


def split_target(target: str) -> tuple[str, str]:
    """``(file or module, attribute name or "")``.

    A target that exists as a file is a path whole, colons and all
    (``dir:with:colons/p.py``). Otherwise only its last ``:`` splits it, and only
    when what follows is a Python identifier (``dir:x/p.py:pipe``,
    ``package.module:pipe``); any other colon is part of the path.

    >>> split_target("scrapeline.demo.football:pipe")
    ('scrapeline.demo.football', 'pipe')
    >>> split_target("runs:2024/p.py")
    ('runs:2024/p.py', '')
    """
    if Path(target).is_file():
        return target, ""
    spec, sep, attribute = target.rpartition(":")
    if sep and spec and attribute.isidentifier():
        return spec, attribute
    return target, ""


def _import_file(path: Path) -> object:
    if not path.is_file():
        raise PipelineError(f"pipeline file not found: {path}")
    name = f"scrapeline_pipeline_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PipelineError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except PipelineError:
        raise
    except BaseException as exc:
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        line = _line_in(path, exc)
        where = f" (line {line})" if line else ""
        raise PipelineError(
            f"pipeline file {path} does not import{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def _line_in(path: Path, exc: BaseException) -> int | None:
    """The line of ``path`` the import failed at: a syntax error's own, or the last
    frame of the file in the traceback (however the frame spells the path)."""
    if isinstance(exc, SyntaxError) and exc.lineno and _same_file(exc.filename, path):
        return exc.lineno
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _same_file(f.filename, path)]
    return frames[-1].lineno if frames else None


def _same_file(filename: str | None, path: Path) -> bool:
    if not filename:
        return False
    try:
        return Path(filename).resolve() == path.resolve()
    except OSError:
        return False
