"""Automation on by default wherever a daemon runs (issue 15): the landing sensor and both schedules start
RUNNING unless KONGCHUO_AUTOMATION=off; `kongchuo instance` gives `make audit`/`make dev` the instance the CLI
writes, with telemetry off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
_PROBE = """
import json
from pipelines.definitions import defs
out = {s.name: s.default_status.value for s in defs.sensors or []}
out.update({s.name: s.default_status.value for s in defs.schedules or []})
print(json.dumps(out))
"""


def _statuses(**env: str) -> dict[str, str]:
    full = {**os.environ, **env}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, env=full, capture_output=True, text=True,
                          check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sensor_and_schedules_run_by_default_and_can_be_turned_off():
    names = {"landing_sensor", "monthly_schedule", "quarterly_schedule"}
    default = _statuses(KONGCHUO_AUTOMATION="")
    assert names <= set(default) and {default[n] for n in names} == {"RUNNING"}
    off = _statuses(KONGCHUO_AUTOMATION="off")
    assert {off[n] for n in names} == {"STOPPED"}


def test_instance_command_creates_the_shared_instance_with_telemetry_off(tmp_path):
    env = {**os.environ, "KONGCHUO_HOME": str(tmp_path)}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "instance"], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True, timeout=120)
    home = Path(done.stdout.strip())
    assert home == tmp_path / "dagster"
    config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["telemetry"]["enabled"] is False
