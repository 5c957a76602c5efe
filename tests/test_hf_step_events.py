"""Step events cross the engine process's pipe: they must pickle to equal values, and cheaply."""

from __future__ import annotations

import pickle

import pytest

from servers.hf.request import Failure, Finish, StepEvent


@pytest.mark.parametrize(
    "event",
    [
        StepEvent("tok", 1, 123_456_789),
        StepEvent("", 0, 5, Finish("abort", None, 3)),
        StepEvent("end", 1, 7, Finish("stop", "</s>", 12)),
        StepEvent("id", 1, 8, Finish("stop", 42, 2)),
        Failure(503, "out of memory"),
    ],
)
def test_an_event_survives_the_pipe_unchanged(event: StepEvent | Failure) -> None:
    assert pickle.loads(pickle.dumps(event)) == event


def test_a_step_event_pickles_through_its_constructor_not_per_field_state() -> None:
    # `__reduce__` -> (class, args): no `__setstate__` with a per-object field lookup on either side.
    event = StepEvent("tok", 1, 9, Finish("length", None, 4))
    assert event.__reduce__() == (StepEvent, ("tok", 1, 9, Finish("length", None, 4)))
    with pytest.raises(AttributeError):
        event.text = "changed"  # type: ignore[misc]
