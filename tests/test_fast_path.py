"""The Stepper's cached fast path (used by exploration) computes exactly what ``step`` does."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from flowcheck.chart.model import Chart
from flowcheck.explore.graph import alphabet
from flowcheck.project import discover, find_settings
from flowcheck.semantics.stepper import Stepper

ROOT = Path(__file__).resolve().parent.parent


def _charts() -> list[Chart]:
    charts = [m.chart for m in discover(find_settings(ROOT))]
    from flowcheck.formats.xstate.importer import import_config

    data = ROOT / "tests" / "data" / "semantics.json"
    imported = import_config(data)
    charts.append(imported[0] if isinstance(imported, tuple) else imported)
    return charts


@pytest.mark.parametrize("chart", _charts(), ids=lambda c: c.name)
def test_advance_agrees_with_step_on_random_walks(chart: Chart) -> None:
    stepper = Stepper(chart)
    letters = alphabet(chart, stepper)
    rng = random.Random(7)
    compared = 0
    for _ in range(60):
        snap, _ = stepper.initial(record=False)
        for _ in range(25):
            letter = rng.choice(letters)
            slow, _ = stepper.step(snap, letter.event, dict(letter.payload), record=False)
            fast = stepper.advance(snap, {**letter.payload, "type": letter.event})
            assert fast == slow, json.dumps([letter.event, letter.payload])
            compared += 1
            snap = slow
    assert compared == 60 * 25
