"""Service settings: flags > environment (``FAKESCOPE_*``) > config file (TOML or YAML) > defaults."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, InitSettingsSource, NoDecode, SettingsConfigDict

from fakescope.config import PeopleSettings
from fakescope.errors import FakescopeError


class ConfigFileError(FakescopeError):
    code = "config"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "fakescope" / "service"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FAKESCOPE_", extra="ignore")

    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8000, ge=0, le=65535)
    data_dir: Path = Field(default_factory=default_data_dir,
                           description="where the embedded database and blob folder live")
    database_url: str | None = Field(
        None, description="sqlite:///path or postgresql://user:pass@host/db (default: SQLite "
        "file in data_dir)")
    blob_url: str | None = Field(
        None, description="fsspec URL: file:///path, s3://bucket/prefix, gs://, az:// (default: "
        "data_dir/blobs)")
    workers: int = Field(1, ge=0, le=64,
                         description="in-process scan workers (threads, one Scanner each); 0 = none")
    auth: Literal["auto", "required", "off"] = Field(
        "auto", description="API keys: auto = required unless bound to a loopback address")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed by CORS (none by default)")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="addresses of reverse proxies whose X-Forwarded-For is "
        "believed (none by default: the client address is the connection's, so a header cannot "
        "dodge the per-address rate limit)")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="with keys off, the Host names the service answers to "
        "besides the loopback names and the bound address (a page on another name that resolves "
        "here, as in DNS rebinding, gets 400)")
    max_upload_mb: float = Field(200.0, gt=0, description="largest upload (per-key override)")
    rate_per_min: int = Field(60, ge=1, description="uploads per minute per key (per-key override)")
    upload_idle_s: float = Field(30.0, gt=0, description="an upload that sends nothing for this long "
                                 "is dropped (408) and its temporary file removed")
    retention_days: float = Field(30.0, gt=0, description="uploads and reports are purged after this")
    audit_retention_days: float = Field(365.0, gt=0)
    purge_interval_s: float = Field(3600.0, gt=0)
    anonymize_previews: bool = Field(
        False, description="the stored preview of a picture (`/image`) has every face the scan found "
        "covered, as `fakescope anonymize` covers them")
    keep_face_crops: bool = Field(
        False, description="include aligned face crops in report.html (off: privacy by default)")
    lease_s: float = Field(60.0, ge=1, description="job lease; a dead worker's job is retried after it")
    max_attempts: int = Field(3, ge=1, description="interrupted scans are retried this many times")
    callback_allow_private: bool = Field(False, description="allow callbacks to private addresses")
    callback_secret: str | None = Field(None, description="HMAC-SHA256 key signing callback bodies")
    callback_timeout_s: float = Field(5.0, gt=0)
    callback_max_attempts: int = Field(5, ge=1)
    live_sources: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="URL prefixes of the live streams `POST /v1/watches` may open, "
        "e.g. rtsp://cameras.example.org/,https://live.example.org/hls/ (none: live watching is off)")
    live_allow_private: bool = Field(False, description="allow live sources on loopback, private and "
                                     "link-local addresses (cameras on the local network)")
    live_max_watches: int = Field(1, ge=0, le=64, description="watches running at once (each analyses "
                                  "up to 10 frames a second: about a core)")
    live_max_watches_per_key: int | None = Field(
        None, ge=1, le=64, description="watches one API key may run at once (default: half of "
        "live_max_watches, at least 1), so that one key cannot hold every slot")
    live_max_duration_s: float = Field(86400.0, gt=0, description="longest a watch runs")
    live_tls_verify: bool = Field(True, description="check the certificates of https, rtsps and rtmps "
                                  "sources (off: cameras with self-signed certificates)")
    check_dir: Path | None = Field(
        None, description="the in-browser check page built by `fakescope web-build`, served at /check "
        "(default: data_dir/check when it holds a build)")
    people_key_file: Path | None = Field(
        None, description="file holding the key of the protected people's templates (`fakescope people "
        "keygen`); the key may instead come as FAKESCOPE_PEOPLE_KEY (base64). Without one, "
        "/v1/people answers 503: protected people are off (docs/people.md)")
    people_retention_days: int | None = Field(
        None, ge=1, description="protected people enrolled longer ago than this are erased by the "
        "retention purge (none: kept until removed)")

    @field_validator("cors_origins", "trusted_proxies", "allowed_hosts", "live_sources", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip()
            if v.startswith("["):
                import json

                return json.loads(v)
            return [p.strip() for p in v.split(",") if p.strip()]
        return v

    @field_validator("people_key_file", mode="before")
    @classmethod
    def _no_empty_path(cls, v: Any) -> Any:
        # FAKESCOPE_PEOPLE_KEY_FILE= (set but empty) means no file, not the current folder.
        return None if isinstance(v, str) and not v.strip() else v

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir.expanduser() / 'fakescope.db'}"

    @property
    def blobs_url(self) -> str:
        return self.blob_url or f"file://{self.data_dir.expanduser() / 'blobs'}"

    @property
    def calibration_dir(self) -> Path:
        """Local thresholds fitted on this deployment's reviews (fakescope calibrate); workers
        on other machines need it on a shared path (``FAKESCOPE_CALIBRATION_DIR``)."""
        env = os.environ.get("FAKESCOPE_CALIBRATION_DIR")
        return Path(env).expanduser() if env else self.data_dir.expanduser() / "calibration"

    @property
    def check_folder(self) -> Path | None:
        """The built check page to serve at /check, if there is one."""
        folder = (self.check_dir or self.data_dir / "check").expanduser()
        return folder if (folder / "index.html").is_file() else None

    @property
    def auth_required(self) -> bool:
        if self.auth == "auto":
            return not is_loopback(self.host)
        return self.auth == "required"

    @property
    def live_per_key(self) -> int:
        """Watches one key may run at once."""
        return self.live_max_watches_per_key or max(1, (self.live_max_watches + 1) // 2)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def read_config_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:
        raise ConfigFileError(f"config file {path} is not valid: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a table of settings")
    # Accept both a flat file and one with a [service] table.
    section = data.get("service", data)
    return {str(k).replace("-", "_"): v for k, v in section.items()}


def load_settings(config_file: Path | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from flags (``overrides``, None = not given), the environment and a file."""
    path = config_file or (Path(os.environ["FAKESCOPE_CONFIG"]) if os.environ.get("FAKESCOPE_CONFIG")
                           else None)
    file_data = read_config_file(path) if path is not None else {}
    given = {k: v for k, v in overrides.items() if v is not None}

    class _Settings(ServiceSettings):
        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,  # type: ignore[no-untyped-def]
                                       dotenv_settings, file_secret_settings):
            return (init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=file_data))

    try:
        return ServiceSettings.model_validate(_Settings(**given).model_dump())
    except FakescopeError:
        raise
    except Exception as exc:
        raise ConfigFileError(f"invalid settings: {exc}") from exc


def people_scan_settings(settings: ServiceSettings) -> PeopleSettings | None:
    """The protected-people check for the service's scanners: on when a key is configured
    (docs/people.md), reading the enrolment of the service's own database."""
    import os

    from fakescope.people.crypto import KEY_ENV, KEY_FILE_ENV

    key_file = settings.people_key_file
    if key_file is None and not any(os.environ.get(v, "").strip() for v in (KEY_FILE_ENV, KEY_ENV)):
        return None
    return PeopleSettings(database_url=settings.db_url, key_file=key_file.expanduser() if key_file else None)
