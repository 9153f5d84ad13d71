"""JSONL readers and the shared chat template."""

from __future__ import annotations

import json

import pytest

from pairwise_trainer.data import read_preferences, read_prompts, read_sft, render_chat
from pairwise_trainer.modeling import UserError


def write(tmp_path, name, lines):
    p = tmp_path / name
    p.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return p


def test_standard_preferences_with_optional_columns(tmp_path):
    p = write(
        tmp_path,
        "p.jsonl",
        [
            {
                "prompt": "1+1=",
                "chosen": "2",
                "rejected": "3",
                "margin": 0.5,
                "weight": 2,
                "strength": "clear",
            },
            {"prompt": "2+2=", "chosen": "4", "rejected": "5"},
            "",
        ],
    )
    rows = read_preferences(p)
    assert len(rows) == 2
    assert (rows[0].margin, rows[0].weight, rows[0].strength) == (0.5, 2.0, "clear")
    assert (rows[1].margin, rows[1].weight, rows[1].strength) == (0.0, 1.0, None)


def test_conversational_preferences_use_the_same_template_as_policy(tmp_path):
    msgs = [{"role": "user", "content": "hi"}]
    p = write(
        tmp_path,
        "c.jsonl",
        [
            {
                "prompt": msgs,
                "chosen": [{"role": "assistant", "content": "hello"}],
                "rejected": [{"role": "assistant", "content": "go away"}],
            }
        ],
    )
    (row,) = read_preferences(p)
    assert row.prompt == render_chat(msgs, add_generation_prompt=True)
    assert row.prompt == "<|user|>\nhi\n<|assistant|>\n"
    assert row.chosen == "hello\n" and row.rejected == "go away\n"
    # The PPO/generate prompt reader renders the same text for the same conversation.
    q = write(tmp_path, "q.jsonl", [{"prompt": msgs}])
    assert read_prompts(q) == [row.prompt]


def test_sft_formats(tmp_path):
    p = write(
        tmp_path,
        "s.jsonl",
        [
            {"prompt": "1+1=", "completion": "2"},
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
        ],
    )
    rows = read_sft(p)
    assert (rows[0].prompt, rows[0].completion) == ("1+1=", "2")
    assert rows[1].prompt == "<|user|>\nq\n<|assistant|>\n" and rows[1].completion == "a\n"


@pytest.mark.parametrize(
    "lines,expect",
    [
        (
            ['{"prompt": "a", "chosen": "b", "rejected": "c"}', "{not json"],
            "bad.jsonl:2: invalid JSON",
        ),
        (['{"prompt": "a", "chosen": "b"}'], "bad.jsonl:1: missing field(s) rejected"),
        (["[1, 2]"], "bad.jsonl:1: expected a JSON object"),
        (['{"prompt": "a", "chosen": "b", "rejected": "c", "margin": "x"}'], "bad.jsonl:1:"),
        (
            ['{"prompt": "a", "chosen": [{"role": "assistant", "content": "x"}], "rejected": "c"}'],
            "bad.jsonl:1: prompt and completion must both be",
        ),
        ([""], "empty dataset"),
    ],
)
def test_bad_preference_lines_name_the_line(tmp_path, lines, expect):
    p = write(tmp_path, "bad.jsonl", lines)
    with pytest.raises(UserError) as e:
        read_preferences(p)
    assert expect in str(e.value), f"error {e.value!r} should contain {expect!r}"
    assert "\n" not in str(e.value), "errors must be one line"


def test_missing_file_and_bad_sft(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        read_preferences(tmp_path / "nope.jsonl")
    p = write(tmp_path, "s.jsonl", ['{"text": "x"}'])
    with pytest.raises(UserError, match="s.jsonl:1: expected fields prompt"):
        read_sft(p)
