"""Per-check options that adapters accept (API body, CLI flags), merged over the settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.core.check import DEFAULT_MIN_MATCH_CHARS, CheckOptions
from app.core.exclusions import Exclusions
from app.core.formulas import FormulaRule
from app.core.seeds import MIN_RUN
from app.settings import Settings


class CheckOverrides(BaseModel):
    threshold: float | None = Field(None, ge=0, le=1, examples=[0.3])
    min_match_chars: int | None = Field(None, ge=MIN_RUN, le=1000,
                                        examples=[DEFAULT_MIN_MATCH_CHARS])
    exclude_quotes: bool | None = Field(None, description="Leave text inside “…”, 「…」 and "
                                        "《…》 out of the copy ratio.")
    exclude_sources: list[str] = Field(default_factory=list, max_length=1000,
                                       description="Reference ids, or tags as key=value, whose "
                                       "matches do not count.", examples=[["kind=template"]])
    exclude_own: bool = Field(False, description="Matches with references of the same unit or "
                              "author (give unit/author) do not count.")
    unit: str | None = Field(None, max_length=200, description="The report's unit (for "
                             "exclude_own).", examples=["组织部"])
    author: str | None = Field(None, max_length=200, description="The report's author.")
    stock_phrases: list[str] = Field(default_factory=list, max_length=10000,
                                     description="More phrases that never count.",
                                     examples=[["全面从严治党"]])
    use_stock_phrases: bool = Field(True, description="Apply the configured stock-phrase list.")
    common_share: float | None = Field(None, ge=0, le=1, description="Phrases in more than this "
                                       "share of the corpus never count; 0 turns it off.")
    formula_share: float | None = Field(None, ge=0, le=1, description="A passage that at least "
                                        "this share of the references hold near-identically is "
                                        "a formula (规定表述); 0 turns formulas off.")
    formula_min_refs: int | None = Field(None, ge=2, le=1_000_000, description="...and at "
                                         "least this many references.")
    count_formulas: bool | None = Field(None, description="Count formulas (and stock and common "
                                        "phrases) in the copy ratio; they are still named.")


def check_options(settings: Settings, overrides: CheckOverrides) -> CheckOptions:
    """Raises ValueError with a message fit for the user on an impossible combination."""
    share = settings.common_share if overrides.common_share is None else overrides.common_share
    formula_share = settings.formula_share if overrides.formula_share is None \
        else overrides.formula_share
    formula_min_refs = settings.formula_min_refs if overrides.formula_min_refs is None \
        else overrides.formula_min_refs
    configured = settings.stock_phrase_list()
    report_tags = {k: v for k, v in (("unit", overrides.unit), ("author", overrides.author)) if v}
    exclusions = Exclusions(
        quotes=settings.exclude_quotes if overrides.exclude_quotes is None
        else overrides.exclude_quotes,
        sources=frozenset(overrides.exclude_sources),
        own=overrides.exclude_own,
        report_tags=report_tags,
        stock_phrases=overrides.use_stock_phrases and configured is None,
        extra_stock_phrases=tuple(configured or ()) * overrides.use_stock_phrases
        + tuple(overrides.stock_phrases),
        common_share=share or None,
        formulas=FormulaRule(formula_share, formula_min_refs) if formula_share else None,
        count_formulas=settings.count_formulas if overrides.count_formulas is None
        else overrides.count_formulas,
    )
    return CheckOptions(
        threshold=settings.threshold if overrides.threshold is None else overrides.threshold,
        min_match_chars=settings.min_match_chars if overrides.min_match_chars is None
        else overrides.min_match_chars,
        exclusions=exclusions,
    )
