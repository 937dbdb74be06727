"""Configuration from the environment (CERTREG_*), an optional .env file, or arguments.

Every value has an embedded default so `certreg up` runs on a laptop with nothing
configured: a local anvil chain, the embedded content store and SQLite, all under
`data_dir`. Secrets are `SecretStr` (never printed) and well-known or weak values
are refused, so a deployment cannot start with a password from an example file.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from registry.errors import ConfigurationError

# Values that appear in examples and tutorials; never accepted as real secrets.
_REFUSED_SECRETS = frozenset({"changeme", "change-me", "changethis", "password", "secret",
                              "admin", "test", "example", "12345678", "certreg"})
DEPLOYMENT_FILE = "deployment.json"


def _check_secret(value: SecretStr | None) -> SecretStr | None:
    if value is None:
        return None
    text = value.get_secret_value()
    if text.lower() in _REFUSED_SECRETS or len(text) < 8:
        raise ValueError("refusing a default or weak secret (at least 8 characters, "
                         "not a well-known example value)")
    return value


class Settings(BaseSettings):
    """Registry configuration. Environment variables are CERTREG_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="CERTREG_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Path("var")
    # Chain: with no rpc_url, `certreg up` runs anvil on chain_port (embedded dev chain).
    rpc_url: str | None = None
    chain_port: int = 8545
    chain_id: int = 31337
    contract_address: str | None = None
    deployment_block: int | None = None
    confirmations: int = 1
    # Storage: with no ipfs_api, documents go to the embedded store under data_dir.
    ipfs_api: str | None = None
    # Database: SQLite under data_dir unless a URL is given (postgresql+psycopg://...).
    database_url: str | None = None
    # HTTP API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    max_document_bytes: int = 20 * 1024 * 1024
    # API worker processes of `certreg up`. One by default: with several, wrk runs saw
    # about 1 % of connections reset (under investigation); the rate limit holds across them.
    api_workers: int = Field(default=1, ge=1)
    # /readyz fails when the indexer is more than this many blocks behind the chain's
    # safe head (the head less the confirmation depth): verdicts would be that stale.
    max_indexer_lag_blocks: int = Field(default=50, ge=0)
    # Token buckets shared by the API's worker processes (0 turns a limit off): public
    # endpoints per client IP (behind a proxy, run uvicorn with --proxy-headers so that is
    # the real client); authenticated issuance per API credential, counted apart.
    rate_limit_per_second: float = Field(default=20.0, ge=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    issuance_rate_limit_per_minute: float = Field(default=60.0, ge=0)
    issuance_rate_limit_burst: int = Field(default=10, ge=1)
    # Where the worker processes of one server keep their shared buckets; `certreg up`
    # sets it for its workers. None: each process limits on its own (one process).
    rate_limit_state_dir: Path | None = None
    # An issuance request waits this long for another one of this process before 503.
    issuance_lock_timeout_seconds: float = Field(default=120.0, gt=0)
    # Operator (Ethereum) key for anchoring and revocation.
    operator_keystore: Path | None = None
    operator_password: SecretStr | None = None
    # Institute's X.509 signing identity for XAdES.
    signing_key: Path | None = None
    signing_certificate: Path | None = None
    signing_password: SecretStr | None = None
    # Trust anchors for verifying signers (a national or EU-style trusted list as PEM
    # certificates): a file, or a directory of .pem/.crt/.cer files. Unset: a signer's
    # chain and revocation status are not checked, and verification says so.
    trust_anchors: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _check_database_password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url

        try:
            password = make_url(value).password
        except Exception:
            raise ValueError("not a database URL (e.g. postgresql+psycopg://user:pw@host/db)"
                             ) from None
        if password is not None:
            _check_secret(SecretStr(str(password)))
        return value

    _check_operator_password = field_validator("operator_password")(
        classmethod(lambda cls, v: _check_secret(v)))
    _check_signing_password = field_validator("signing_password")(
        classmethod(lambda cls, v: _check_secret(v)))

    @property
    def effective_rpc_url(self) -> str:
        return self.rpc_url or f"http://127.0.0.1:{self.chain_port}"

    @property
    def uses_embedded_chain(self) -> bool:
        return self.rpc_url is None

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'certreg.db').resolve()}"

    @property
    def effective_api_workers(self) -> int:
        return self.api_workers

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def deployment_path(self) -> Path:
        return self.data_dir / DEPLOYMENT_FILE

    @cached_property
    def deployment(self) -> dict | None:
        """The contract deployment: from settings, else from data_dir/deployment.json."""
        if self.contract_address:
            return {"address": self.contract_address,
                    "block_number": self.deployment_block or 0,
                    "chain_id": self.chain_id}
        try:
            return json.loads(self.deployment_path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise ConfigurationError(f"{self.deployment_path} is not valid JSON") from None

    def require_deployment(self) -> dict:
        if self.deployment is None:
            raise ConfigurationError(
                "no registry contract configured: set CERTREG_CONTRACT_ADDRESS or run "
                "`certreg contract deploy` (or `certreg up` for a local dev registry)")
        return self.deployment


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit (e.g. command-line) overrides on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        # Only field names and reasons: pydantic's own text quotes the input, i.e. the secret.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from None
