"""Catalog validation and settings errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings
from services.catalog import CatalogError, load_catalog

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_catalog_has_the_product_lineup() -> None:
    catalog = load_catalog(ROOT / "catalog.toml")
    plans = {plan.id: plan for plan in catalog.plans}
    assert {pid: p.price_rub for pid, p in plans.items()} == {
        "premium1": 675,
        "ai_group": 420,
        "power_group": 870,
        "gpt_pro": 1199,
    }
    names = {m.key: m.name for m in catalog.models}
    assert [names[k] for k in plans["ai_group"].models] == ["DeepSeek", "Qwen3", "Gemini 2.0 Flash"]
    assert [names[k] for k in plans["gpt_pro"].models] == ["GPT-3.5 Turbo", "GPT-4o Mini"]
    free = sorted(m.name for m in catalog.models if m.free)
    assert free == ["GPT-4.1 Nano", "GPT-5 Nano"]
    assert all(m.free_input_limit for m in catalog.models if m.free)
    assert all(plan.days == 30 for plan in catalog.plans)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.toml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """
[providers.openai]
name = "OpenAI"
base_url = "https://api.openai.com/v1"

[[models]]
key = "nano"
name = "Nano"
provider = "openai"
model_id = "gpt-5-nano"
free = true
context_tokens = 1000
"""


def test_minimal_catalog_loads_and_a_plan_is_only_data(tmp_path: Path) -> None:
    text = BASE + '[[plans]]\nid = "pro"\nname = "Pro"\nprice_rub = 1\nstars = 1\ndays = 7\n'
    text += 'models = ["nano"]\n'
    catalog = load_catalog(_write(tmp_path, text))
    assert catalog.plans_by_id["pro"].days == 7
    assert catalog.default_model.key == "nano"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            '[[plans]]\nid="p"\nname="P"\nprice_rub=1\nstars=1\ndays=1\nmodels=["zzz"]\n',
            "unknown model 'zzz'",
        ),
        (
            '[[models]]\nkey="x"\nname="X"\nprovider="nope"\nmodel_id="x"\ncontext_tokens=1000\n',
            "unknown provider 'nope'",
        ),
        (
            '[[models]]\nkey="nano"\nname="X"\nprovider="openai"\nmodel_id="x"\ncontext_tokens=1000\n',
            "duplicate model key 'nano'",
        ),
        (
            '[[models]]\nkey="BAD KEY"\nname="X"\nprovider="openai"\nmodel_id="x"\ncontext_tokens=1000\n',
            "models[1] (X).key",
        ),
    ],
)
def test_invalid_catalog_names_the_problem(tmp_path: Path, extra: str, expected: str) -> None:
    with pytest.raises(CatalogError) as error:
        load_catalog(_write(tmp_path, BASE + extra))
    assert expected in str(error.value)
    assert str(error.value).startswith("Catalog error:")


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="Catalog error"):
        load_catalog(_write(tmp_path, "[[models]\n"))


def test_missing_token_is_reported_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="BOT_TOKEN is not set; put the token from @BotFather"):
        load_settings(_env_file=None)


def test_admin_ids_parse_and_malformed_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "1:abc")
    monkeypatch.setenv("ADMIN_IDS", "10, 20")
    assert load_settings(_env_file=None).admin_ids == frozenset({10, 20})
    monkeypatch.setenv("ADMIN_IDS", "10,abc")
    with pytest.raises(ConfigError, match="ADMIN_IDS"):
        load_settings(_env_file=None)


def test_secrets_do_not_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123:supersecret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-verysecret")
    settings = load_settings(_env_file=None)
    assert "supersecret" not in repr(settings)
    assert "verysecret" not in repr(settings)
    assert settings.provider_key("openai") == "sk-verysecret"
