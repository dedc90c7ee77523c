"""docs/configuration.md's settings tables against the settings classes: every setting, no other, and each
default as the code has it, for the Airflow side (Settings) and the worker (WorkerSettings)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from video_pipeline.config import Settings
from video_worker.settings import WorkerSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
SIDES: dict[str, tuple[type[BaseSettings], str]] = {"pipeline": (Settings, "VIDEO_PIPELINE_"),
                                                    "worker": (WorkerSettings, "VIDEO_WORKER_")}
CELL = re.compile(r"(?<!\\)\|")  # a cell's own pipes are escaped: \|


def text(value: Any) -> str:
    """A default as one writes it in its variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, list | tuple):
        return ",".join(text(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}={text(item)}" for key, item in value.items())
    return str(value)


def documented(side: str) -> list[tuple[str, str]]:
    """(variable, default) of each row of the side's table, between its markers, in order."""
    section = re.search(f"<!-- settings:{side}:start -->(.*?)<!-- settings:{side}:end -->", DOC.read_text(), re.S)
    assert section, f"no settings:{side} markers in {DOC}"
    rows = []
    for line in section[1].strip().splitlines()[2:]:  # below the header and its rule
        variable, default, _ = (cell.strip() for cell in CELL.split(line.strip())[1:-1])
        rows.append((variable.strip("`"), default.strip("`")))
    return rows


def in_code(side: str) -> dict[str, str]:
    cls, prefix = SIDES[side]
    return {prefix + name.upper(): text(field.get_default(call_default_factory=True))
            for name, field in cls.model_fields.items()}


@pytest.mark.parametrize("side", SIDES)
def test_the_table_lists_every_setting_once_and_no_other(side):
    variables = [variable for variable, _ in documented(side)]
    assert len(variables) == len(set(variables)), "a variable listed twice"
    assert set(variables) == set(in_code(side)), (f"missing: {sorted(set(in_code(side)) - set(variables))}; "
                                                  f"not a setting: {sorted(set(variables) - set(in_code(side)))}")


@pytest.mark.parametrize("side", SIDES)
def test_each_documented_default_is_the_codes(side):
    code = in_code(side)
    assert {variable: default for variable, default in documented(side) if variable in code} == code


@pytest.mark.parametrize("side", SIDES)
def test_each_documented_default_read_as_its_variable_gives_the_default(side, monkeypatch):
    """The table's text is what an operator would write: read back, it is the code's default value."""
    cls, prefix = SIDES[side]
    for variable, default in documented(side):
        monkeypatch.setenv(variable, default)
    read = cls()
    for name, field in cls.model_fields.items():
        assert getattr(read, name) == field.get_default(call_default_factory=True), prefix + name.upper()
