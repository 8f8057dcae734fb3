"""The assignments' mutation suite: every plausible wrong answer fails, with a right hint (or an
honest "other"), on a small counterexample; and the CLI prints the confusion table."""

import subprocess
import sys

import pytest

from minidl.classroom import mutations
from minidl.classroom.mutation_suite import SUITE

SMALL = 32  # array elements in a shrunk counterexample


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setenv("MINIDL_FAST", "1")


@pytest.mark.parametrize("mutation", SUITE, ids=[m.id for m in SUITE])
def test_mutant_fails_with_a_right_hint(mutation):
    outcome = mutations.run(mutation)
    assert outcome.hint != "passed", f"{mutation.id} was not caught"
    assert outcome.ok, f"{mutation.id}: hint {outcome.hint!r}, expected one of {mutation.hints}\n{outcome.message}"
    if outcome.elements is not None:
        assert outcome.elements <= SMALL, outcome.message


def test_every_assignment_has_a_mutation_suite():
    notebooks = {p.name for p in mutations.ASSIGNMENTS.glob("*.ipynb")}
    assert notebooks == {m.notebook for m in SUITE}
    for name in notebooks:
        assert len([m for m in SUITE if m.notebook == name]) >= 4, name


def test_an_edit_that_matches_nothing_is_refused():
    bad = mutations.Mutation(SUITE[0].notebook, "nothing", "sign error", SUITE[0].cell, "no such text", "x", ("sign",))
    with pytest.raises(ValueError, match="occurs 0 times"):
        mutations.run(bad)


def test_unmutated_solution_passes():
    same = mutations.Mutation(SUITE[0].notebook, "same", "none", SUITE[0].cell, SUITE[0].old, SUITE[0].old, ())
    assert mutations.run(same).hint == "passed"


def test_cli_prints_the_confusion_table():
    run = subprocess.run([sys.executable, "-m", "minidl", "classroom", "mutations", "--only", "01-softmax_s"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "kind" in run.stdout and "sign error" in run.stdout and "caught with a right hint" in run.stdout
