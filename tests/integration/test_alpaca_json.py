"""The step-wise JSON decoder used for big Alpaca answers gives exactly ``json.loads``'s result
(and its errors), so swapping it in under alpaca-py changes nothing but the loop's latency."""

from __future__ import annotations

import json

import pytest

from workstation.alpaca.rest import loads_in_steps

BAR = {"t": "2024-05-31T04:00:00Z", "o": 1.5, "h": 2, "l": 1e-3, "c": -0.5, "v": 10, "n": None}

SAMPLES = {
    "bars-page": {"bars": {"AAA": [BAR] * 3, "BBB": [], "C.D": [BAR]}, "next_page_token": "x"},
    "snapshots": {"AAA": {"latestTrade": {"p": 1.0}, "dailyBar": BAR}, "ZZZ": None},
    "list": [{"id": 1}, {"id": 2, "legs": [1, [2, 3]]}],
    "empty-object": {},
    "empty-list": [],
    "scalars": {"a": True, "b": False, "c": None, "d": "é ✓ \\u00e9", "e": 1.25e10},
    "deep": {"a": {"b": {"c": {"d": [1, {"e": [2]}]}}}},
    # a symbol's bars longer than ONE_CALL_BYTES go leaf by leaf, shorter ones in one call
    "long-and-short-arrays": {"bars": {"AAA": [BAR] * 2000, "BBB": [BAR] * 10}},
    "bracket-in-a-string": {"bars": {"A": [{"t": "a]b"}, {"t": "]"}, BAR], "B": ["]", "["]}},
}


@pytest.mark.parametrize("indent", [None, 2], ids=["compact", "indented"])
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_same_result_as_json_loads(name: str, indent: int | None) -> None:
    text = json.dumps(SAMPLES[name], indent=indent, ensure_ascii=False)
    assert loads_in_steps(text) == json.loads(text)
    assert loads_in_steps(f" \n{text}\t ") == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"bars": {"A": [{"t": 1},]}}',  # trailing comma
        '{"bars": {"A": [{"t": 1} {"t": 2}]}}',  # missing comma
        '{"bars" {"A": []}}',  # missing colon
        '{"bars": {"A": [1, 2',  # truncated
        '{"a": 1} extra',
        "",
    ],
    ids=["trailing-comma", "missing-comma", "missing-colon", "truncated", "extra", "empty"],
)
def test_malformed_input_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        loads_in_steps(text)


def test_leaf_converter_replaces_each_array_of_leaves_as_it_is_decoded() -> None:
    page = SAMPLES["long-and-short-arrays"]
    text = json.dumps({**page, "next_page_token": None})
    seen: list[int] = []

    def convert(leaves: list[object]) -> list[int]:
        seen.append(len(leaves))
        return [len(leaves)]

    got = loads_in_steps(text, leaf=convert)
    assert got == {"bars": {"AAA": [2000], "BBB": [10]}, "next_page_token": None}
    assert seen == [2000, 10]  # the long array (leaf by leaf) and the short one (one call)
