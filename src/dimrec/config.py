"""Settings: one ``dimrec.toml`` plus ``DIMREC_*`` environment variables.

Read once at an entry point with :func:`load_settings` and passed down; nothing reads the
environment at import time. Nested values come from the environment with ``__`` between
levels, e.g. ``DIMREC_STORE__URL=redis://127.0.0.1:6379/0``. Every option is documented in
``dimrec.example.toml``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from dimrec import dates
from dimrec.errors import ConfigError, InvalidInputError, describe_validation
from dimrec.items import ITEM_ID_MAX_LENGTH
from dimrec.params import EngineName, ModelParams, TrainParams, train_params

_TOKEN = re.compile(r"[\x21-\x7e]+")

Action = Literal["browse", "basket", "purchase"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
ACTIONS: tuple[Action, ...] = ("browse", "basket", "purchase")


class Section(BaseModel):
    """A settings section: unknown keys are errors, so a typo is never silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class PathsSettings(Section):
    """Where the stages keep their data; fsspec URLs (local path, memory://, gs://, s3://)."""

    data: str = "var"
    """Root under which events/, profiles/ and models/ live unless set one by one."""
    events: str | None = None
    profiles: str | None = None
    models: str | None = None
    runs: str | None = None
    """The pipeline's run records (dimrec.runs), shown by the web console."""

    def events_url(self) -> str:
        return self.events or f"{self.data.rstrip('/')}/events"

    def profiles_url(self) -> str:
        return self.profiles or f"{self.data.rstrip('/')}/profiles"

    def models_url(self) -> str:
        return self.models or f"{self.data.rstrip('/')}/models"

    def runs_url(self) -> str:
        return self.runs or f"{self.data.rstrip('/')}/runs"

    @model_validator(mode="after")
    def _folders(self) -> PathsSettings:
        """A local path must be a folder, or lie under one, to be written to."""
        for name in ("data", "events", "profiles", "models", "runs"):
            value = getattr(self, name)
            if value is None or "://" in value:
                continue
            path = Path(value)
            while not path.exists() and path != path.parent:
                path = path.parent
            if path.exists() and not path.is_dir():
                where = (
                    "is" if str(path) == str(Path(value)) else f"lies under {str(path)!r}, which is"
                )
                raise ValueError(f"paths.{name} = {value!r} {where} a file, not a folder")
        return self


def _retailrocket_events() -> dict[str, Action]:
    return {"view": "browse", "addtocart": "basket", "transaction": "purchase"}


class FlatSourceSettings(Section):
    """Column and event-name mapping of a flat event log (CSV, Parquet or NDJSON). The
    defaults read Retailrocket's events.csv (timestamp,visitorid,event,itemid)."""

    user_column: str = "visitorid"
    item_column: str = "itemid"
    event_column: str = "event"
    ts_column: str | None = "timestamp"
    ts_unit: Literal["auto", "s", "ms", "us"] = "auto"
    """How a numeric timestamp is counted. "auto" reads text as ISO and tells a number's unit
    by its size: below 1e11 seconds, below 1e14 milliseconds, else microseconds."""
    date_column: str | None = None
    """Column holding the day (YYYY-MM-DD or YYYYMMDD); when unset the day of ``ts`` is used."""
    weight_column: str | None = None
    """Column holding each row's weight — a quantity, a rating — instead of one row per unit:
    it multiplies the action's weight in the profile. Rows whose weight is not a positive
    number are rejected (counted as bad_weight). Unset: every row weighs 1."""
    events: dict[str, Action] = Field(default_factory=_retailrocket_events)
    """Event name in the log → dimrec action; other events are ignored (and counted)."""
    action_thresholds: dict[Action, float] = Field(default_factory=dict)
    """When set, ``event_column`` holds a number (a rating) and a row becomes the highest
    action whose threshold it reaches; rows below all are ignored. ``events`` is then unused.
    MovieLens ratings: {"purchase": 4.0}."""
    format: Literal["auto", "csv", "parquet", "ndjson"] = "auto"
    """File format; "auto" goes by the extension (.csv/.tsv, .parquet, .json/.ndjson/.jsonl)."""


class ExportSettings(Section):
    source: Literal["ga360", "ga4", "flat"] = "ga360"
    warehouse: Literal["duckdb", "bigquery"] = "duckdb"
    input: str = "var/warehouse/ga360"
    """DuckDB: a folder of daily ga_sessions_YYYYMMDD / events_YYYYMMDD files, or a file/glob
    whose rows carry a date field. BigQuery: ``project.dataset`` holding the daily tables."""
    sku_regex: str = r"^([^-]+|[^-]+-[^-]+-[^-]+)-[^-]+$"
    """Variant SKU normalisation: a SKU matching it is replaced by its first group; "" disables.
    The default strips the last ``-SUFFIX`` when the SKU has one or three hyphens. RE2 syntax
    (what DuckDB and BigQuery run): no lookaround, no backreferences."""
    flat: FlatSourceSettings = Field(default_factory=FlatSourceSettings)
    bigquery_project: str | None = None
    """Project that runs (and pays for) BigQuery jobs; default the client's."""
    bigquery_location: str | None = None
    threads: int = Field(2, ge=1)
    """Threads of the embedded DuckDB warehouse; it reads as many daily tables at once."""
    max_rejected_fraction: float = Field(0.9, ge=0, le=1)
    """Refuse to write a day when more than this share of its rows (events + rejected) was
    rejected: a wrong sku_regex or a broken input would otherwise empty it. Days of fewer
    than 100 rows are too small to judge; 1 never refuses."""
    min_events_fraction: float = Field(0.1, ge=0, le=1)
    """Refuse to replace an exported day with one holding fewer events than this share of the
    events it had (an empty daily file would otherwise wipe it). 0 never refuses."""

    @field_validator("sku_regex")
    @classmethod
    def _check_sku_regex(cls, value: str) -> str:
        if value:
            check_re2_with_group(value)
        return value


class WeightsSettings(Section):
    """Score added to a (user, item) profile by one action."""

    browse: float = Field(0.5, ge=0)
    basket: float = Field(2.0, ge=0)
    purchase: float = Field(6.0, ge=0)

    def as_dict(self) -> dict[str, float]:
        return {"browse": self.browse, "basket": self.basket, "purchase": self.purchase}


class TrainSettings(ModelParams):
    """``[train]``: the training parameters (:class:`dimrec.params.ModelParams`: algorithm,
    threshold, top_k, user filter, ...) and the window, engine and threads of a run."""

    days_init: int = Field(30, ge=0)
    days_end: int = Field(1, ge=0)
    engine: EngineName = "local"
    allow_missing: bool = False
    threads: int = Field(0, ge=0)
    """Threads for the local engine; 0 means one per core."""

    @model_validator(mode="after")
    def _check_window(self) -> TrainSettings:
        if self.days_end > self.days_init:
            raise ValueError("train.days_end must not be greater than train.days_init")
        return self


class SparkSettings(Section):
    master: str = "local[*]"
    app_name: str = "dimrec"
    conf: dict[str, str] = Field(default_factory=dict)
    """Extra ``spark.*`` settings, e.g. {"spark.executor.memory" = "4g"}."""


class StoreSettings(Section):
    url: str = "sqlite:///var/store.db"
    sim_cap: int = Field(100, ge=1)
    keep_versions: int = Field(3, ge=1)
    min_item_fraction: float = Field(0.5, ge=0, le=1)
    """Refuse to publish a version with fewer items than this share of the current one."""
    index_url: str | None = None
    """Where serving index files go: None keeps them in the store; or an fsspec URL
    (gs://bucket/prefix, s3://..., a shared folder) that every serving host can read."""


class ServeSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    max_n: int = Field(100, ge=1)
    default_n: int = Field(10, ge=1)
    max_input_items: int = Field(500, ge=1)
    max_shoppers: int = Field(100, ge=1)
    """Most shoppers in one POST /recommendations call."""
    refresh_seconds: float = Field(2.0, gt=0)
    """How often the server checks the store for a new current version or hidden items."""
    console: bool = True
    """The web console at /ui (status, versions, try it, reports); false: /ui is a 404."""
    retry_max_seconds: float = Field(300.0, gt=0)
    """Longest wait before a version that failed to load is tried again (the wait doubles
    from refresh_seconds with each failure)."""
    index_cache: str | None = None
    """Local folder where a serving host keeps its copy of each version's index file when the
    store is not a local SQLite file; default: <paths.data>/index-cache."""
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    """Largest request body accepted (POST /recommendations, the jobs API); larger: 413."""
    max_header_bytes: int | None = Field(None, ge=1024)
    """Largest request line plus headers accepted; larger: 431. Default: what a GET
    /make_recommendation of max_input_items ASCII ids of the longest kind needs, plus 16 KiB
    (at least 64 KiB)."""
    max_headers: int = Field(100, ge=1)
    """Most header fields in one request; more: 431."""

    def header_bytes_limit(self) -> int:
        if self.max_header_bytes is not None:
            return self.max_header_bytes
        return max(64 * 1024, self.max_input_items * (ITEM_ID_MAX_LENGTH + 1) + 16 * 1024)


class QueueSettings(Section):
    url: str | None = None
    """Huey storage: None means a SQLite file next to the store; or ``redis://host:port/db``."""
    export_crontab: str = "5 1 * * *"
    daily_crontab: str = "15 1 * * *"
    tune_crontab: str = "30 2 * * 0"
    """The periodic re-tune (Sundays 02:30 UTC): tune on the training window and switch the
    applied tune when the choice is significantly better; "" turns it off."""
    rate_limit_per_minute: int = Field(1, ge=1)
    retries: int = Field(3, ge=0)
    retry_delay_seconds: int = Field(60, ge=0)
    lease_seconds: float = Field(60.0, gt=0)
    """A running job's worker renews its lease every quarter of this; a job whose lease ran
    out (its worker was killed) is taken over by another worker: retried or failed."""
    token: str | None = None
    """Bearer token of the jobs API; when unset the jobs API is disabled (404). At least 16
    visible ASCII characters: what an HTTP Authorization header can carry as it is."""

    @field_validator("token")
    @classmethod
    def _refuse_placeholder(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not _TOKEN.fullmatch(value):
            raise ValueError(
                "queue.token must be visible ASCII characters only (no spaces, no accents): "
                "an HTTP header carries no other"
            )
        if len(value) < 16 or value.lower() in {"changeme", "secret"}:
            raise ValueError("queue.token must be at least 16 characters and not a placeholder")
        return value


class Settings(BaseSettings):
    """All of dimrec's settings. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="DIMREC_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    log_level: LogLevel | None = None
    """DEBUG, INFO, WARNING or ERROR; unset: WARNING for a command, INFO for a service."""
    max_window_days: int = Field(dates.MAX_WINDOW_DAYS, ge=1)
    """The longest window of days that a command, a job or ``[train]`` may ask for."""
    paths: PathsSettings = Field(default_factory=PathsSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    weights: WeightsSettings = Field(default_factory=WeightsSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _bounded_window(self) -> Settings:
        try:
            dates.check_span(self.train.days_init, self.train.days_end, self.max_window_days)
        except InvalidInputError as exc:
            raise ValueError(f"[train] {exc}") from None
        return self

    def train_params(self, **overrides: object) -> TrainParams:
        """The training parameters of ``[train]`` and ``[weights]`` with ``overrides`` (None
        values ignored); InvalidInputError names each bad one."""
        return train_params(self.train.model_dump(), self.weights.as_dict(), **overrides)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 (pydantic-settings' signature)
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_files = _CONFIG_FILES.get("paths") or []
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_files:
            sources.append(
                TomlConfigSettingsSource(settings_cls, toml_file=toml_files, deep_merge=True)
            )
        return tuple(sources)


def check_re2_with_group(pattern: str) -> None:
    """ValueError unless ``pattern`` is an RE2 regex (the dialect DuckDB and BigQuery run;
    checked with Arrow's RE2, which accepts exactly what DuckDB does) with a group."""
    import pyarrow as pa
    import pyarrow.compute as pc

    probe = pa.array([""], pa.string())
    try:
        pc.match_substring_regex(probe, pattern)
    except pa.ArrowInvalid as exc:
        reason = str(exc).removeprefix("Invalid regular expression: ")
        raise ValueError(
            f"sku_regex {pattern!r} is not a valid RE2 regex, the dialect DuckDB and BigQuery "
            f"run ({reason}; RE2 has no lookaround and no backreferences)"
        ) from None
    try:
        pc.replace_substring_regex(probe, pattern=pattern, replacement=r"\1")
    except pa.ArrowInvalid:
        raise ValueError(f"sku_regex {pattern!r} needs a group: the SKU it keeps") from None


# The files read by the next Settings() call; set only inside load_settings.
_CONFIG_FILES: dict[str, list[Path]] = {}


def load_settings(
    path: str | Path | Sequence[str | Path] | None = None, **overrides: object
) -> Settings:
    """Read settings: explicit ``overrides`` > ``DIMREC_*`` environment > the TOML file(s).

    The files are ``path`` (one, or several layered in order: a later file's keys win over
    an earlier one's, table by table, so ``-c dimrec.toml -c dimrec.tuned.toml`` reads the
    second over the first), else ``$DIMREC_CONFIG``, else ``./dimrec.toml`` when it exists.
    """
    given = [path] if isinstance(path, str | Path) else list(path or [])
    explicit = [Path(p) for p in given] or (
        [Path(os.environ["DIMREC_CONFIG"])] if os.environ.get("DIMREC_CONFIG") else []
    )
    for file in explicit:
        if not file.exists():
            raise ConfigError(f"settings file {file} does not exist")
        if not file.is_file():
            raise ConfigError(f"settings file {file} is not a file")
    default = Path("dimrec.toml")
    files = explicit or ([default] if default.is_file() else [])
    for file in files:
        _check_toml(file)
    _CONFIG_FILES["paths"] = files
    source = f" ({' + '.join(str(f) for f in files)})" if files else ""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = describe_validation(exc)
        raise ConfigError(f"invalid settings{source}: {problems}") from None
    except SettingsError as exc:  # an environment value that is not the JSON it must be
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"invalid settings{source}: {exc}{cause}") from None
    finally:
        _CONFIG_FILES.clear()


def _check_toml(path: Path) -> None:
    """ConfigError, naming the place, when ``path`` is not readable UTF-8 TOML."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"settings file {path} is not UTF-8 text (byte {exc.start} is "
            f"{exc.object[exc.start : exc.start + 1]!r}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"settings file {path} cannot be read: {exc.strerror or exc}") from None
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from None
