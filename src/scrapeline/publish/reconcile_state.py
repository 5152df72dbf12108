"""The saved state of a reconciliation between stagings, in the data dir: what lets
the next ``validate`` or ``publish`` reconcile only the source records that changed.

    DATA_DIR/reconcile/<name>/state.json     (0600, in a 0700 directory)

    {"format": 1, "declaration": "<16 hex>",           # what the state was computed for
     "watermark": 7,                                   # the newest run id among its inputs
     "fingerprints": {"combine": {"<pk>": [run_id, "<hash>", key], ...}, ...},
     "engine": {...}}                                  # Reconciler.state()

Each source record the state was computed from has a fingerprint: the run that wrote
it, a hash (BLAKE2b, 16 hex digits) of its stored JSON text, and its key. So the
state describes exactly the inputs it was computed from, whoever computed it: a
``validate`` and a ``publish`` both read it, compare the ledger with those inputs, and
save a state of their own inputs; neither can make the other miss a change.

It is JSON (orjson), never pickle: loading a damaged or foreign file gives an error,
never code. It is written to a new file and renamed over the old one, so a reader
sees the old state or the new one, whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scrapeline.errors import PublishError, ReconcileError

FORMAT = 1
STATE_FILE = "state.json"
DIRECTORY = "reconcile"
"""The data dir's directory of saved reconciliation states, one directory each."""

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)

Fingerprints = dict[str, dict[str, list[Any]]]
"""Source → primary key → [run id, hash of the stored JSON, the record's key]."""


@dataclass(kw_only=True)
class SavedState:
    """What :func:`load` read back, or what :func:`save` writes."""

    declaration: str
    watermark: int
    """The newest run id among the inputs: records of that run may have been rewritten
    since (the run may still have been going), so they are read again next time."""
    fingerprints: Fingerprints = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)


def state_path(data_dir: Path, name: str) -> Path:
    """Where the state of reconciliation ``name`` is kept."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        raise PublishError(f"reconciliation {name!r} cannot be a directory name: rename it")
    return data_dir / DIRECTORY / name / STATE_FILE


def load(path: Path) -> SavedState | None:
    """The state saved at ``path``, None when there is none. Raises ReconcileError for
    a file that is not a state of this format (damaged, or written by another version)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReconcileError(f"cannot read the saved state {path}: {exc.strerror or exc}") from exc
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ReconcileError(f"the saved state {path} is damaged: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReconcileError(f"the saved state {path} is not of format {FORMAT}")
    try:
        fingerprints = document["fingerprints"]
        if not isinstance(fingerprints, dict) or not all(
            isinstance(v, dict) for v in fingerprints.values()
        ):
            raise TypeError("fingerprints")
        return SavedState(
            declaration=str(document["declaration"]),
            watermark=int(document["watermark"]),
            fingerprints=fingerprints,
            engine=dict(document["engine"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ReconcileError(f"the saved state {path} is damaged: {exc}") from None


def save(path: Path, state: SavedState) -> None:
    """Write ``state`` at ``path`` atomically (a new owner-only file renamed over the
    old). Raises PublishError when it cannot be written."""
    document = {
        "format": FORMAT,
        "declaration": state.declaration,
        "watermark": state.watermark,
        "fingerprints": state.fingerprints,
        "engine": state.engine,
    }
    data = orjson.dumps(document)
    try:
        for directory in (path.parent.parent, path.parent):
            directory.mkdir(mode=0o700, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PublishError(f"cannot save the reconciliation state {path}: {exc}") from exc
