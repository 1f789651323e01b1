"""`moved:` entries (renamed resources): what they may name, each refusal at its line."""

from __future__ import annotations

from .conftest import load, one_problem

HEAD = """\
version: 1
project: {name: demo}
functions:
  loader: {kind: mlrun, source: {source: src/main.py}}
runs:
  load: {function: loader, action: job}
moved:
"""


def test_a_move_maps_the_new_address_to_the_old(write):
    declaration = load(
        write(
            HEAD + "  - {from: functions.downloader, to: functions.loader}\n"
            "  - {from: runs.download, to: runs.load}\n"
        )
    )
    assert declaration.moved == {"functions.loader": "functions.downloader", "runs.load": "runs.download"}


def test_a_move_to_an_undeclared_address_is_refused_at_its_line(write):
    problem = one_problem(write(HEAD + "  - {from: functions.downloader, to: functions.lodaer}\n"))
    assert problem.path == "moved[0].to" and problem.location.line == 8
    assert problem.message.startswith("functions.lodaer is not declared")


def test_a_move_from_a_still_declared_address_is_refused(write):
    problem = one_problem(write(HEAD + "  - {from: runs.load, to: functions.loader}\n"))
    assert problem.message.startswith("runs.load cannot become functions.loader: a move keeps the family")
    problem = one_problem(write(HEAD + "  - {from: functions.loader, to: functions.loader}\n"))
    assert problem.path == "moved[0].from" and "is still declared" in problem.message


def test_secrets_do_not_move(write):
    problem = one_problem(write(HEAD + "  - {from: secrets.A, to: secrets.B}\n"))
    assert problem.message.startswith("'secrets.A' is not TYPE.NAME of a family that can move (dataitems, ")


def test_an_address_moves_once(write):
    problem = one_problem(
        write(
            HEAD + "  - {from: functions.a, to: functions.loader}\n"
            "  - {from: functions.b, to: functions.loader}\n"
        )
    )
    assert problem.path == "moved[1].to" and problem.message == "functions.loader is moved twice"
