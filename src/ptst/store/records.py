"""The records ptst keeps and reads back: a generated sample (a line of a samples file, a row of the study store),
a scorer's per-sample result, the study store's other rows, and a run directory's manifest.json. Each is a
pydantic model checked where it is read (`validate_record`), so what reaches a scorer or a report has the fields
and types it indexes: a damaged or hand-edited file is a one-line error naming the file and the row, never a
KeyError three modules later. Rows are handed on as read (extra fields kept, in their order) once valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ptst.core.errors import PtstError
from ptst.core.io import read_text
from ptst.core.jsontext import parse_json_object
from ptst.core.validation import Text, validate_record

Binary = Literal[0, 1]


class _Open(BaseModel):
    """A record that may carry more fields than ptst reads (written by a later version, or added by a user).
    Strict: a row is handed on as read, so a value must already have its type ("0.5" is not a number)."""

    model_config = ConfigDict(extra="allow", strict=True)


class SampleLine(_Open):
    """One line of a samples file (`ptst generate` writes it; `ptst score` reads it, and may be given a file made
    by hand): the output, and what scorers may read beside it."""

    id: str | int | None = None
    input: Text | None = None
    output: Text
    reference: Text | None = Field(None, description="the reference answer (gsm8k, multiple-choice, similarity)")
    category: Text | None = None
    prompt: Text | None = None
    scores: dict[str, Any] | None = Field(None, description="results of earlier scorers, by scorer name")


class StoredSample(SampleLine):
    """A sample row of the study store: as `ptst generate` writes it, every field a report shows is there."""

    id: str
    input: Text
    prompt: Text


class StoredCell(BaseModel):
    """A cell joined with its variant (`StudyStore.cells`)."""

    id: str
    test_template: str
    eval_name: str
    spec: dict[str, Any]
    n_items: int = Field(ge=0)
    generated: Binary
    variant_id: str
    label: str
    train_template: str | None
    seed: int | None
    step: int | None
    adapter: str | None


class EvalRecord(_Open):
    name: str
    data: str
    scorers: list[str]


class BaselineRecord(_Open):
    name: str
    template: str
    reference_test: str | None = None


class TrainRecord(_Open):
    templates: list[str] = []
    seeds: list[int] = []
    baselines: list[BaselineRecord] | None = None


class StoredConfig(_Open):
    """The study config a run was made with, as far as reports read it (the config itself is checked by the study
    when it is written)."""

    name: str = "study"
    model: str = ""
    test_templates: list[str] = []
    row_tests: dict[str, list[str]] = {}
    primary: list[dict[str, str | None]] = []
    evals: list[EvalRecord] = []
    train: TrainRecord | None = None


class FailedScore(BaseModel):
    model_config = ConfigDict(strict=True)
    cell: str
    scorer: str
    failed: int = Field(ge=0)
    error: str | None = None


class Manifest(_Open):
    """manifest.json of a run directory, as far as reports read it."""

    study: str | None = None
    templates: dict[str, dict[str, Any]] = {}
    versions: dict[str, str | None] = {}
    machine: dict[str, Any] = {}
    started: str | None = None


class StudyCell(_Open):
    """One cell of the whole study, as a shard or a merge records it (`ptst.study.shards.describe_cell`)."""

    id: str
    row: str
    test: str
    eval: str
    seed: int | None = None
    part: str | None = None  # a shard's record: the part (training run) the cell belongs to
    shard: str | None = Field(default=None, pattern=r"^[0-9]+/[0-9]+$")  # a merge's record: "K/N"


class ShardPart(_Open):
    label: str
    shard: int = Field(ge=1)


class ShardRecord(_Open):
    index: int = Field(ge=1)
    count: int = Field(ge=1)
    fingerprint: str
    parts: dict[str, ShardPart]
    cells: list[StudyCell]


class StudyFingerprint(_Open):
    fingerprint: str
    config: dict[str, Any]


# meta keys of the study store, and the shape of each value (config_hash is plain text)
META_SHAPES: dict[str, TypeAdapter] = {
    "config": TypeAdapter(StoredConfig),
    "active_cells": TypeAdapter(list[str]),
    "templates": TypeAdapter(dict[str, dict[str, Any]]),
    "failed_scores": TypeAdapter(dict[str, FailedScore]),
    "study": TypeAdapter(StudyFingerprint),
    "shard": TypeAdapter(ShardRecord | None),
    "study_cells": TypeAdapter(list[StudyCell]),
    "merged_from": TypeAdapter(list[str]),
    "sessions": TypeAdapter(list[dict[str, Any]]),
}


# Scorer results, by scorer name: each scorer registers the shape of its per-sample result
# (`ptst.score.base.register_scorer(..., result=MODEL)`), and the store checks stored results against it.
JudgeStatus = Literal["scored", "unscored", "judge_refused", "failed"]  # see ptst.score.judged


class ScoreResult(_Open):
    """Fields every result may have: `status` scored | unscored | judge_refused | failed (judges); absent means
    scored."""

    status: JudgeStatus = "scored"


_RESULT_SHAPES: dict[str, TypeAdapter] = {}
_ANY_RESULT = TypeAdapter(ScoreResult | None)


def register_result_shape(scorer: str, model: type[ScoreResult]) -> None:
    _RESULT_SHAPES[scorer] = TypeAdapter(model | None)


def result_shape(scorer: str) -> TypeAdapter:
    return _RESULT_SHAPES.get(scorer, _ANY_RESULT)


class PreflightRow(_Open):
    template: str
    asr: float
    asr_low: float
    asr_high: float
    over_refusal: float
    over_low: float
    over_high: float
    asr_selection: float = float("nan")
    acceptable: bool


class PreflightSummary(_Open):
    """preflight.json of a pre-flight run directory, as far as reports read it."""

    metric: str
    baseline: str
    recommended: str | None
    protects: bool
    verdict: str
    selection_rule: str | None = None
    rows: list[PreflightRow]


def read_run_file(path: Path, model: type[_Open], what: str) -> dict:
    """A JSON file of a run directory that ptst wrote (manifest.json, preflight.json), checked against its record;
    returned as read. A damaged one names the file and the field."""
    where = str(path)
    try:
        value = parse_json_object(read_text(path, what, max_bytes=64 << 20), where, document=True, allow_nan=True)
        validate_record(model, value, where)
    except PtstError as err:
        raise PtstError(f"{err}; the run directory is damaged (nothing was changed): restore the file from a "
                        "backup, or use another run directory") from None
    return value
