"""`--set KEY=VALUE`: one syntax for every command (`cardiofed run` and `cardiofed coordinator submit`)."""

from __future__ import annotations

import pytest

from shared.config import ConfigError, parse_set_options


def test_bare_words_are_strings_and_toml_values_keep_their_type() -> None:
    settings = parse_set_options(["protocol=loho", 'model="median_beat"', "rounds=5", "learning-rate=1e-3",
                                  'tasks=["mi", "norm"]', "dp=true"])  # fmt: skip
    assert settings == {"protocol": "loho", "model": "median_beat", "rounds": 5, "learning-rate": 0.001,
                        "tasks": ["mi", "norm"], "dp": True}  # fmt: skip


@pytest.mark.parametrize("item", ["rounds", "=5"])
def test_an_item_without_a_key_and_value_names_itself(item: str) -> None:
    with pytest.raises(ConfigError, match=f"--set expects KEY=VALUE, got {item!r}"):
        parse_set_options([item])


def test_both_commands_parse_set_with_the_one_parser() -> None:
    from server import commands, deployment_commands

    assert commands.parse_set_options is deployment_commands.parse_set_options is parse_set_options
