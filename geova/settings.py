"""Every setting of geova, in one object read from ``GEOVA_*`` environment variables.

The CLI, the web app and gunicorn workers all build their configuration from :class:`Settings`, so
a setting documented in the README's configuration table works the same everywhere (a test sets each
one and observes its effect, and another fails when a field here is not documented there). The web
app also accepts overrides in ``create_app({...})`` under the same names (``GEOVA_TILES_URL``...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geova.core.referential import DEFAULT_REFERENTIAL

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>'
PREFIX = "GEOVA_"


class Settings(BaseSettings):
    """geova's settings; each field is the environment variable ``GEOVA_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    database_url: str | None = Field(None, description="the store (SpatiaLite file or PostGIS URL)")
    instance_path: Path = Field(Path("instance"), description="runtime state: database, secret key, rejects")
    secret_key: SecretStr | None = Field(None, description="Flask secret key (else kept in instance/)")
    tiles_url: str = Field(OSM_TILES, description="tile server URL template, or 'none'")
    tiles_attribution: str = Field(OSM_ATTRIBUTION, description="attribution shown under the maps")
    referential: Path = Field(DEFAULT_REFERENTIAL, description="the city's referential file")
    force_https: bool = Field(False, description="redirect to HTTPS, send HSTS, always-Secure cookies")
    busy_timeout: float = Field(
        30.0, ge=0, le=3600, allow_inf_nan=False, description="seconds a write waits for the store's lock"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="level of geova's own loggers"
    )
    log_format: Literal["text", "json"] = Field("text", description="one text or JSON line per record")
    ratelimit_storage_uri: str = Field(
        "memory://", description="where failed logins are counted (redis://... with several workers)"
    )
    login_limit_account: str = Field("5 per 15 minutes", description="failed logins allowed per account")
    login_limit_address: str = Field("30 per 15 minutes", description="failed logins allowed per address")
    # The production server (gunicorn, geova/gunicorn_conf.py) and the database pool it sizes.
    bind: str = Field("127.0.0.1:8000", description="where gunicorn listens: HOST:PORT or unix:/PATH")
    workers: int | None = Field(
        None, ge=1, le=256, description="gunicorn worker processes (default: one per CPU core)"
    )
    threads: int = Field(4, ge=1, le=64, description="threads per gunicorn worker (requests served at once)")
    worker_timeout: int = Field(
        60, ge=1, le=3600, description="seconds a worker may stay silent before gunicorn replaces it"
    )
    graceful_timeout: int = Field(
        30, ge=1, le=3600, description="seconds workers get to finish their requests on restart or stop"
    )
    db_pool_size: int | None = Field(
        None,
        ge=1,
        le=256,
        description="database connections kept per process (default SQLAlchemy's 5; GEOVA_THREADS "
        "under gunicorn)",
    )
    page_cache: Literal["files", "none"] = Field(
        "files",
        description="where whole public pages and map feeds are kept between writes: files in the "
        "instance folder, shared by the workers (geova/web/page_cache.py), or none",
    )
    upload_max_mb: int = Field(
        200, ge=1, le=10_000, description="largest file (MB) an admin may upload or geova sync may download"
    )
    photo_max_mb: int = Field(
        5, ge=1, le=100, description="largest photo (MB) attached to a report on the web form"
    )
    sync_timeout: float = Field(
        120.0, gt=0, le=3600, allow_inf_nan=False, description="seconds geova sync waits for a download"
    )
    trusted_proxies: int = Field(
        0,
        ge=0,
        le=5,
        description="reverse proxies in front of the app whose X-Forwarded-For and -Proto are "
        "believed (0: none, the headers are ignored)",
    )
    # E-mails to requesters (geova.mailing) and how long their contacts are kept (geova.store.requesters).
    smtp_host: str | None = Field(None, description="SMTP server for requesters' e-mails (none: they wait)")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port")
    smtp_user: str | None = Field(None, description="SMTP login (none: no authentication)")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (never logged)")
    smtp_starttls: bool = Field(False, description="upgrade the SMTP connection with STARTTLS")
    smtp_timeout: float = Field(
        10.0, gt=0, le=300, allow_inf_nan=False, description="seconds an SMTP connection may take"
    )
    mail_from: str = Field("geova@localhost", description="the From address of requesters' e-mails")
    mail_max_attempts: int = Field(
        8, ge=1, le=100, description="attempts at sending an e-mail before it is marked failed"
    )
    requester_retention_days: int = Field(
        365,
        ge=0,
        le=36500,
        description="days requesters' contacts are kept after their request ended (the territory "
        "setting of the same name wins)",
    )

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "log_level" else value.lower()

    @property
    def instance(self) -> Path:
        """The instance folder as an absolute path (relative paths are read from the working folder)."""
        return self.instance_path.resolve()

    @property
    def tiles(self) -> str | None:
        """The tile URL, or None when maps have no base layer (intranets without a tile server)."""
        url = self.tiles_url.strip()
        return None if not url or url.lower() == "none" else url


def as_config(settings: Settings) -> dict[str, Any]:
    """The settings as Flask config keys (``GEOVA_NAME``), the secret key left out."""
    return {
        f"{PREFIX}{name.upper()}": getattr(settings, name)
        for name in Settings.model_fields
        if name not in ("secret_key", "smtp_password")
    }


def load(overrides: dict[str, Any] | None = None) -> Settings:
    """The environment's settings with ``overrides`` (``GEOVA_NAME`` or ``name`` keys) applied."""
    values: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        name = key.removeprefix(PREFIX).lower()
        if name in Settings.model_fields and value is not None:
            values[name] = value
    return Settings(**values)
