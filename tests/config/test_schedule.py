"""A run with `schedule`: executed by the platform unless told otherwise, and its cron in the
form MLRun takes."""

from __future__ import annotations

import pytest

from dhmlrun.config.cron import cron_fields, cron_problem

from .conftest import load

HEAD = (
    "version: 1\nproject: {name: demo}\n"
    "functions:\n  f: {kind: mlrun, source: {code: 'def h(c): pass'}, handler: h}\n"
)


def test_a_scheduled_run_is_remote_unless_it_says_otherwise(write):
    declaration = load(
        write(
            HEAD + "runs:\n  a: {function: f, action: job, schedule: '@daily'}\n"
            "  b: {function: f, action: job, schedule: '@daily', execution: local}\n"
            "  c: {function: f, action: job}\n"
        )
    )
    execution = {r.name: r.spec["execution"] for r in declaration.of_type("runs")}
    assert execution == {"a": "remote", "b": "local", "c": "local"}


@pytest.mark.parametrize(
    ("declared", "fields"),
    [
        ("@daily", "0 0 * * *"),
        ("@HOURLY", "0 * * * *"),
        ("@weekly", "0 0 * * 0"),
        (" 5 4 * * * ", "5 4 * * *"),
    ],
)
def test_macros_become_the_five_fields_they_stand_for(declared: str, fields: str) -> None:
    assert cron_problem(declared) is None
    assert cron_fields(declared) == fields
    assert cron_problem(cron_fields(declared)) is None
