"""Typed settings from CHACHONG_* environment variables; a bad value fails at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.check import DEFAULT_MIN_MATCH_CHARS, DEFAULT_THRESHOLD
from app.core.readers import ReadOptions
from app.core.readers.document import MAX_PAGES, OCR_MAX_PAGES
from app.core.readers.sandbox import Limits, MiB
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
    formula_share: float = Field(0.2, ge=0, le=1, description="A passage that at least this "
                                 "share of the references hold near-identically is a formula "
                                 "(规定表述); 0 turns formulas off.")
    formula_min_refs: int = Field(3, ge=2, le=1_000_000, description="...and at least this "
                                  "many references.")
    count_formulas: bool = Field(False, description="Count formulas in the copy ratio.")

    # reading files
    ocr: bool = Field(False, description="Allow checks to ask for OCR of scanned PDFs and "
                      "images (it takes seconds a page); each check still asks for it.")
    max_pages: int = Field(MAX_PAGES, ge=1, description="Most pages of a PDF or OFD read.")
    ocr_max_pages: int = Field(OCR_MAX_PAGES, ge=1, description="Most pages recognised by OCR.")
    convert_seconds: float = Field(60, gt=0, le=3600, description="Time limit of one "
                                   "LibreOffice conversion (.doc, .wps, .odt, .rtf).")
    convert_memory_mb: int = Field(1024, ge=256, description="Memory limit (address space) of "
                                   "one LibreOffice conversion.")
    ocr_seconds: float = Field(300, gt=0, le=3600, description="Time limit of one OCR run.")
    ocr_memory_mb: int = Field(4096, ge=512, description="Memory limit (address space) of one "
                               "OCR run.")

    # the service
    data: Path = Field(Path("data"), description="Folder of the reference store (SQLite).")
    store: str | None = Field(None, pattern=r"^rediss?(\+cluster)?://", description="A "
                              "Redis (redis://host:port/db) or Redis Cluster "
                              "(redis+cluster://host:port,host:port) whose log servers on "
                              "several machines share; ?acks=N: replicas an addition waits for "
                              "(default: none on one Redis, 1 on a cluster).")
    flush_docs: int = Field(1000, ge=1, description="References added through the API are "
                            "written into an index segment when this many wait...")
    flush_seconds: float = Field(30.0, gt=0, description="...or when the oldest has waited "
                                 "this long (and at shutdown).")
    expunge_seconds: float = Field(24 * 3600.0, gt=0, description="A segment holding removed "
                                   "references is rewritten without them once its oldest "
                                   "removal is this old (sooner when a tenth of it is removed): "
                                   "removed texts leave the disk within this time.")
    quiet_merge_seconds: float = Field(300.0, ge=0, description="When no reference has been "
                                       "added or removed for this long, the index's segments are "
                                       "merged down to two, each such merge rewriting at most "
                                       "half of the references (fewer segments check faster); "
                                       "0: never for quiet alone.")
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

    def read_options(self, ocr: bool = False) -> ReadOptions:
        """How files are read; ``ocr`` when the check asks for it (see ``ocr`` above)."""
        return ReadOptions(
            ocr=ocr, max_pages=self.max_pages, ocr_max_pages=self.ocr_max_pages,
            convert=Limits(self.convert_seconds, self.convert_memory_mb * MiB),
            recognise=Limits(self.ocr_seconds, self.ocr_memory_mb * MiB))

    @property
    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]
