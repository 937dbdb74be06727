"""Settings refuse default secrets and never echo them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from registry.errors import ConfigurationError
from registry.settings import load_settings


@pytest.mark.parametrize("variable,value", [
    ("CERTREG_OPERATOR_PASSWORD", "changeme"),
    ("CERTREG_SIGNING_PASSWORD", "short"),
    ("CERTREG_DATABASE_URL", "postgresql+psycopg://certreg:password@db:5432/certreg"),
])
def test_settings_refuse_default_or_weak_secrets(monkeypatch: pytest.MonkeyPatch, variable: str,
                                                 value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    secret = value.split(":")[-1].split("@")[0] if "://" in value else value
    assert secret not in str(info.value)
    assert variable.removeprefix("CERTREG_").lower() in str(info.value)


def test_settings_keep_strong_secrets_out_of_their_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTREG_OPERATOR_PASSWORD", "N0t-A-Default-Secret")
    settings = load_settings()
    assert settings.operator_password.get_secret_value() == "N0t-A-Default-Secret"
    assert "N0t-A-Default-Secret" not in repr(settings)


def test_settings_embedded_defaults_and_recorded_deployment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CERTREG_CONTRACT_ADDRESS", raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert settings.uses_embedded_chain and settings.effective_rpc_url.endswith(":8545")
    assert settings.effective_database_url.startswith("sqlite:///")
    with pytest.raises(ConfigurationError):
        settings.require_deployment()
    (tmp_path / "deployment.json").write_text(json.dumps({"address": "0x" + "11" * 20,
                                                          "block_number": 7}))
    assert load_settings(data_dir=tmp_path).require_deployment()["block_number"] == 7
