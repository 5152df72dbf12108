"""What a command was asked to do, as its run's record keeps it: the command, its
arguments with every secret masked, the profile, the host and scrapeline's version.

    >>> call = Invocation("run", ("p.py", "--secret", "TOKEN=k-381fd", "--set", "k=k-381fd"))
    >>> call.masked(["k-381fd"]).args
    ('p.py', '--secret', 'TOKEN=***', '--set', 'k=***')

Masked are: the value of every ``--secret KEY=VALUE`` (``--secret KEY``, read from the
environment variable KEY, is only a name and stays), URL credentials, and every
argument that holds one of the secret values the command knows of (the pipeline's) or
a ``--secret`` value given on the same command line. Pure.
"""

from __future__ import annotations

import importlib.metadata
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scrapeline.secrets import MIN_SECRET_LENGTH, REDACTED, redact

SECRET_FLAG = "--secret"


@dataclass(frozen=True)
class Invocation:
    """A command and its arguments (without the program and the command's name)."""

    command: str
    args: tuple[str, ...] = ()
    profile: str | None = None

    @classmethod
    def current(cls, command: str, argv: Sequence[str] | None = None) -> Invocation:
        """This process's invocation of ``command``, from ``argv`` (default
        ``sys.argv``): its arguments after the program, and after the command's
        name when that comes first. No profile.

        >>> Invocation.current("run", ["/bin/scrapeline", "run", "p.py", "--full"])
        Invocation(command='run', args=('p.py', '--full'), profile=None)
        """
        args = list(sys.argv if argv is None else argv)[1:]
        if args and args[0] == command:
            args = args[1:]
        return cls(command, tuple(args))

    def masked(self, secrets: Sequence[str] = ()) -> Invocation:
        """The same invocation with every secret masked (see the module doc).

        >>> Invocation("run", ("--secret=API_KEY=abcd1234", "--secret", "API_KEY")).masked().args
        ('--secret=API_KEY=***', '--secret', 'API_KEY')
        >>> Invocation("run", ("--base-url", "http://u:pw@127.0.0.1:8000")).masked().args
        ('--base-url', 'http://***@127.0.0.1:8000')
        """
        out: list[str] = []
        given: list[str] = []  # the --secret values: hidden wherever else they appear
        after_flag = False
        for arg in self.args:
            if after_flag:
                out.append(_mask_pair(arg, given))
            elif arg.startswith(SECRET_FLAG + "="):
                out.append(SECRET_FLAG + "=" + _mask_pair(arg[len(SECRET_FLAG) + 1 :], given))
            else:
                out.append(arg)
            after_flag = arg == SECRET_FLAG
        hidden = [*secrets, *given]
        return Invocation(
            self.command, tuple(redact(arg, hidden) for arg in out), profile=self.profile
        )

    def record(self, secrets: Sequence[str] = (), *, stages: Sequence[str] = ()) -> dict[str, Any]:
        """What the run's record keeps (JSON-able), secrets masked: command, args,
        profile, this host's name, scrapeline's version and the ``stages`` asked for."""
        shown = self.masked(secrets)
        return {
            "command": shown.command,
            "args": list(shown.args),
            "profile": shown.profile,
            "host": socket.gethostname(),
            "version": version(),
            "stages": list(stages),
        }


def version() -> str:
    """scrapeline's version: the installed package's, else the source tree's."""
    try:
        return importlib.metadata.version("scrapeline")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        from scrapeline import __version__

        return __version__


def _mask_pair(value: str, given: list[str]) -> str:
    """``KEY=VALUE`` → ``KEY=***``, VALUE added to ``given``; a bare ``KEY`` (an
    environment variable's name) stays."""
    key, equals, secret = value.partition("=")
    if not equals:
        return value
    if len(secret) >= MIN_SECRET_LENGTH:  # shorter ones would mask ordinary text
        given.append(secret)
    return f"{key}={REDACTED}"
