"""Typed settings from CHACHONG_* environment variables; a bad value fails at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.check import DEFAULT_MIN_MATCH_CHARS, DEFAULT_THRESHOLD
from app.core.seeds import MIN_RUN


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHACHONG_", extra="ignore")

    threshold: float = Field(DEFAULT_THRESHOLD, ge=0, le=1,
                             description="A report whose copy ratio is above this fails.")
    min_match_chars: int = Field(DEFAULT_MIN_MATCH_CHARS, ge=MIN_RUN, le=1000,
                                 description="Shortest verbatim run reported on its own.")
    corpus: Path | None = Field(None, description="Reference folder; the bundled corpus if unset.")
    index: Path | None = Field(None, description="A saved index folder to load instead.")
    exclude_quotes: bool = Field(False, description="Leave quotations out of the copy ratio.")
    common_share: float = Field(0.5, ge=0, le=1, description="Phrases in more than this share "
                                "of the corpus documents never count; 0 turns it off.")
    stock_phrases: Path | None = Field(None, description="A file of stock phrases (one a line) "
                                       "to use instead of the bundled list.")

    # the service
    data: Path = Field(Path("data"), description="Folder of the reference store (SQLite).")
    store: str | None = Field(None, pattern=r"^rediss?://", description="redis://host:port/db "
                              "to share the reference store between servers (default: SQLite "
                              "in the data folder).")
    flush_docs: int = Field(1000, ge=1, description="References added through the API are "
                            "written into an index segment when this many wait...")
    flush_seconds: float = Field(30.0, gt=0, description="...or when the oldest has waited "
                                 "this long (and at shutdown).")
    api_keys: str = Field("", description="Comma-separated admin keys (every scope on every "
                          "collection); keys of narrower scope are made with 'chachong keys "
                          "create'.")
    protect_reads: bool = Field(False, description="Require a key for checks and reads too.")
    check_collections: str = Field("*", pattern=r"^(\*|[a-z0-9][a-z0-9_,-]*)$",
                                   description="Collections a check is compared with when it "
                                   "names none: '*' for every collection the caller may check, "
                                   "or comma-separated names.")
    rate_per_minute: int = Field(0, ge=0, description="Requests a minute per key (and per "
                                 "client address without a key), unless the key has its own "
                                 "limit; 0 for none.")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest request body.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; none if "
                              "empty.")
    history_days: float = Field(30, ge=0, le=36500, description="Days a check's result is kept "
                                "in the data folder (its permalink); 0 keeps none.")
    history_max: int = Field(10_000, ge=1, description="Most checks kept; the oldest go first.")

    @model_validator(mode="after")
    def _reads_need_keys(self) -> Settings:
        if self.protect_reads and not self.keys and not (self.data / "keys.sqlite3").exists():
            raise ValueError("CHACHONG_PROTECT_READS needs CHACHONG_API_KEYS or a key made with "
                             "'chachong keys create': without a key no one could read")
        return self

    def stock_phrase_list(self) -> list[str] | None:
        """The configured phrases, or None for the bundled list."""
        if self.stock_phrases is None:
            return None
        lines = self.stock_phrases.read_text(encoding="utf-8").splitlines()
        return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]

    @property
    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]
