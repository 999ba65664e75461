"""ReorganizeConfig validation."""

from __future__ import annotations

import pytest

from memos.configs.organize import ReorganizeConfig
from memos.errors import ConfigError


def test_defaults() -> None:
    config = ReorganizeConfig()
    assert config.working_capacity == 20 and config.near_dup_threshold == 0.92
    assert config.long_term_cap is None and config.llm is None


@pytest.mark.parametrize(
    "data",
    [
        {"working_capacity": 0},
        {"near_dup_threshold": 1.5},
        {"near_dup_threshold": 0.8, "llm_candidate_threshold": 0.9},
        {"workin_capacity": 5},
        {"llm": {"backend": "nope", "config": {}}},
    ],
)
def test_invalid_settings_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ReorganizeConfig.validate_data(data)


def test_llm_judge_config_is_a_factory() -> None:
    config = ReorganizeConfig.validate_data(
        {"llm": {"backend": "openai", "config": {"api_base": "http://127.0.0.1:9/v1"}}}
    )
    assert config.llm is not None and config.llm.backend == "openai"
