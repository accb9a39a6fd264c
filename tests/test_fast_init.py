"""The one-step __init__ behaves exactly like the frozen dataclass one it replaces."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from seedlock._fast_init import dict_init
from seedlock.record import Adapter, GenerationRecord, ModelRef, PostProcess, SamplingPass


@dict_init
@dataclass(frozen=True)
class _Sample:
    name: str
    count: int = 3
    tags: dict[str, int] = field(default_factory=dict)


def test_positional_keyword_defaults_and_factories() -> None:
    a = _Sample("x")
    assert (a.name, a.count, a.tags) == ("x", 3, {})
    assert _Sample("x", 4, {"k": 1}) == _Sample(name="x", count=4, tags={"k": 1})
    assert _Sample("y").tags is not _Sample("y").tags  # a fresh dict per instance
    with pytest.raises(TypeError):
        _Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Sample("x", nope=1)  # type: ignore[call-arg]


def test_still_frozen_and_replaceable() -> None:
    a = _Sample("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "y"  # type: ignore[misc]
    assert dataclasses.replace(a, count=9) == _Sample("x", 9)


@pytest.mark.parametrize("cls", [GenerationRecord, SamplingPass, Adapter, ModelRef, PostProcess])
def test_record_classes_keep_their_signature(cls: type) -> None:
    params = inspect.signature(cls).parameters
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(params) == names
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert params[f.name].default == f.default


def test_refuses_what_it_cannot_copy() -> None:
    @dataclass(frozen=True, slots=True)
    class Slotted:
        a: int = 1

    with pytest.raises(TypeError):
        dict_init(Slotted)


def test_pass_to_dict_lists_every_field_in_order() -> None:
    p = SamplingPass(seed=3, steps=20, node="9")
    assert list(p.to_dict()) == [f.name for f in dataclasses.fields(SamplingPass)]
    assert p.to_dict()["seed"] == 3 and p.to_dict()["node"] == "9"
