"""What a run's record keeps of its command line: every secret masked, nothing else changed."""

from __future__ import annotations

import socket

import pytest

from scrapeline.workspace.invocation import Invocation, version

SECRET = "k-381fd-long"


@pytest.mark.parametrize(
    ("args", "secrets", "shown"),
    [
        # a --secret's value, however it is written
        (("--secret", f"TOKEN={SECRET}"), (), ("--secret", "TOKEN=***")),
        ((f"--secret=TOKEN={SECRET}",), (), ("--secret=TOKEN=***",)),
        # a bare --secret KEY names an environment variable: not a secret
        (("--secret", "TOKEN"), (), ("--secret", "TOKEN")),
        # any argument holding a secret the command knows of
        (("--set", f"key={SECRET}"), (SECRET,), ("--set", "key=***")),
        ((SECRET,), (SECRET,), ("***",)),
        # credentials in a URL, known or not
        (
            ("--base-url", "http://bob:hunter22@127.0.0.1:8000/x"),
            (),
            ("--base-url", "http://***@127.0.0.1:8000/x"),
        ),
        # the rest stays as typed
        (("p.py", "--workers", "4", "--full"), (SECRET,), ("p.py", "--workers", "4", "--full")),
        # a flag that only looks like --secret keeps its value
        (("--secrets-file", "a=b"), (), ("--secrets-file", "a=b")),
    ],
)
def test_secrets_in_arguments_are_masked(
    args: tuple[str, ...], secrets: tuple[str, ...], shown: tuple[str, ...]
) -> None:
    assert Invocation("run", args).masked(secrets).args == shown


def test_the_current_invocation_drops_the_program_and_the_command_name() -> None:
    call = Invocation.current("reparse", ["/usr/bin/scrapeline", "reparse", "p.py", "overview"])
    assert call == Invocation("reparse", ("p.py", "overview"), None)
    # called from a script of the user's: its arguments, as they are
    assert Invocation.current("run", ["myscript.py", "--daily"]).args == ("--daily",)


def test_the_record_keeps_command_profile_host_version_and_stages_with_secrets_masked() -> None:
    call = Invocation("run", ("p.py", "--secret", f"TOKEN={SECRET}"), profile="prod")
    record = call.record((SECRET,), stages=["overview"])
    assert record == {
        "command": "run",
        "args": ["p.py", "--secret", "TOKEN=***"],
        "profile": "prod",
        "host": socket.gethostname(),
        "version": version(),
        "stages": ["overview"],
    }
    assert SECRET not in repr(record)
