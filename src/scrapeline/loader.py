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
    PipelineError in one line when the file is missing, does not import, or
    declares no pipeline (or several, without a ``:name``).
    """
    spec, _, attribute = target.partition(":")
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
        where = ""
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(path)]
        if isinstance(exc, SyntaxError) and exc.lineno:
            where = f" (line {exc.lineno})"
        elif frames:
            where = f" (line {frames[-1].lineno})"
        raise PipelineError(
            f"pipeline file {path} does not import{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return module
