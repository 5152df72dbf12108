"""``reparse`` takes the configuration as ``run`` does: a profile's data dir is where it
parses again, and its run record names the profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_config_cli import CONFIG, PIPELINE, scrapeline, stored_options

pytestmark = pytest.mark.slow


def test_reparse_parses_again_in_the_profiles_data_dir(tmp_path: Path, site_url: str) -> None:
    (tmp_path / "configured.py").write_text(PIPELINE.replace("item.key % 9 == 0", "False"))
    (tmp_path / "scrapeline.toml").write_text(CONFIG)
    env = {"TOKEN": "tok-7f3a9c", "SCRAPELINE_BASE_URL": site_url}
    ran = scrapeline("run", "configured.py", "--profile", "prod", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    again = scrapeline(
        "reparse", "configured.py", "--stage", "overview", "--profile", "prod",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (tmp_path / "data" / "configured").exists()  # not the default data dir
    options = stored_options(tmp_path / "data" / "prod")
    assert [o["invocation"]["command"] for o in options] == ["run", "reparse"]
    assert options[1]["invocation"]["profile"] == "prod"
    assert options[1]["workers"] == 6  # the profile's
    assert "tok-7f3a9c" not in again.stdout + again.stderr
