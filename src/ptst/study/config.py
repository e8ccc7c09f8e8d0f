"""The study config: one YAML file describes a whole train-template x test-template grid over seeds."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ptst.core.errors import PtstError
from ptst.core.paths import PathName
from ptst.core.validation import Seed, validate_record
from ptst.core.yamlfile import read_yaml
from ptst.data.item import Item
from ptst.data.source import DataSource
from ptst.models.engines import Decoding
from ptst.models.options import EngineOption, RenderOptions, RuntimeOptions
from ptst.score.judge_options import JudgeOptions
from ptst.study.baselines import Baseline
from ptst.study.executors import executors
from ptst.study.resources import Resources
from ptst.train.config import Hyper

PREFLIGHT = "preflight"  # in a template list: the safety pre-flight's recommended test template


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataRef(DataSource):
    """A data set in a study (the `ptst generate` / `ptst train` data options)."""


class EvalSet(DataRef):
    name: PathName = Field(description="short name used in tables and file names, e.g. harmful, gsm8k")
    scorers: list[str] = Field(description="scorers to apply, e.g. [refusal-keywords] or [gsm8k]")
    max_new_tokens: int | None = Field(None, ge=1, description="override the study's decoding for this set")
    plus: list[DataRef] = Field(default_factory=list, description="more data sets of the same role in this one "
                                "set, each with its own file and subsample, after this set's items, e.g. 200 "
                                "AdvBench requests plus the 100 DirectHarm4 disinformation requests")

    @model_validator(mode="after")
    def _parts_share_a_role(self) -> EvalSet:
        from ptst.data import get_dataset

        if not self.plus:
            return self
        try:
            role = get_dataset(self.data).role
            roles = [get_dataset(part.data).role for part in self.plus]
        except PtstError:  # an unknown name: the study's checks name it with its file and field
            return self
        for i, (part, part_role) in enumerate(zip(self.plus, roles, strict=True)):
            if part_role != role:
                raise ValueError(f"plus[{i}]: {part.data} holds {part_role} items, {self.data} {role} items; one "
                                 "set mixes one role")
        return self

    def load(self, purpose: str = "eval") -> list[Item]:
        """This set's items, then each `plus` part's; an item id in two parts is refused (ids key resume)."""
        items = super().load(purpose)
        for part in self.plus:
            items += part.load(purpose)
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise PtstError(f"evals {self.name}: item {item.id} comes from two of its parts (a data set in "
                                "`plus` twice?); each item may appear once")
            seen.add(item.id)
        return items


class TrainSpec(DataRef):
    templates: list[str] = Field(description="training templates (rows of the grid)")
    seeds: list[Seed] = Field(default_factory=lambda: [0], description="one fine-tuning run per template and seed")
    hyper: Hyper = Field(default_factory=Hyper, description="training hyper-parameters")
    mix: str | None = Field(None, description="refusal data to mix in: NAME[:N]")
    mix_file: str | None = Field(None, description="local file of the mix data set")
    mix_repeat: int = Field(1, ge=1, le=1000, description="show the mix examples N times per epoch")
    mix_template: str | None = Field(None, description="template of the mix data (default: each run's training "
                                     "template), e.g. a secret system prompt (Backdoor-Enhanced Safety Alignment)")
    eval_every_steps: int | None = Field(None, ge=1, description="also evaluate checkpoints every N steps")
    baselines: list[Baseline] | None = Field(None, description="baselines from the literature as extra rows "
                                             "(safety-data mixing, BEA): see `ptst.study.baselines`")

    @model_validator(mode="after")
    def _mix_template_needs_mix(self) -> TrainSpec:
        if self.mix_template and not self.mix:
            raise ValueError("mix_template needs mix: the data set it renders")
        if self.mix_repeat != 1 and not self.mix:
            raise ValueError("mix_repeat needs mix: the data set it repeats")
        return self


class PrimaryComparison(_Strict):
    """A comparison named before the study runs: A - B on one set's metric, tested over seeds (a paired t over the
    per-seed differences, Holm over the study's primary comparisons only; see `ptst.report.intervals`). Every
    other difference a report shows is exploratory."""

    name: str = Field(description="a short label for tables, e.g. 'PTST vs same-template'")
    a: str = Field(description="cell A as 'ROW -> TEST', e.g. 'chat:vanilla -> chat:llama'")
    b: str = Field(description="cell B as 'ROW -> TEST'")
    set: str = Field(description="the evaluation set (a name under evals)")
    metric: str | None = Field(None, description="the metric (default: the set's primary one, e.g. attack success)")

    @field_validator("a", "b")
    @classmethod
    def _row_arrow_test(cls, v: str) -> str:
        row, arrow, test = v.partition("->")
        if not arrow or not row.strip() or not test.strip():
            raise ValueError(f"{v!r}: expected 'ROW -> TEST', e.g. 'chat:vanilla -> chat:llama'")
        return f"{row.strip()} -> {test.strip()}"

    def cell(self, which: str) -> tuple[str, str]:
        row, _, test = getattr(self, which).partition(" -> ")
        return row, test


class StudyConfig(EngineOption, RuntimeOptions, RenderOptions):
    """A study. Rendering (markup, system policy), runtime (dtype, device) and engine options are the same
    models `ptst generate` and `ptst train` use; `decoding` is the engines' Decoding; `train.hyper` is
    `ptst train`'s Hyper, with the same defaults."""

    name: PathName = Field("study", description="a name for tables, the report title and the default run "
                           "directory runs/NAME")
    model: str = Field(description="base model: hub id, local directory or embedded:NAME")
    train: TrainSpec | None = Field(None, description="fine-tuning runs (omit to evaluate the base model only)")
    test_templates: list[str] = Field(description="test templates (columns of the grid)")
    evals: list[EvalSet] = Field(description="evaluation sets and their scorers")
    decoding: Decoding = Field(default_factory=Decoding)
    judge: JudgeOptions | None = Field(None, description="the judge of every scorer that needs one (rubric, "
                                       "strongreject-*, guard); see `ptst.score.judge_options`")
    judges: dict[str, JudgeOptions] = Field(default_factory=dict, description="a judge per scorer, in place of "
                                            "`judge` for that scorer (a panel of different judges)")
    template_files: list[str] = Field(default_factory=list, description="YAML files of extra templates")
    batch_size: int | None = Field(None, ge=1, description="generation batch size (default: sized by length; "
                                   "not part of any identity)")
    executor: str = Field("local", description="where the work runs: local (this process) or ray (Ray tasks, "
                          "the [ray] extra); see `ptst.study.executors`")
    resources: Resources = Field(default_factory=Resources, description="CPUs and GPUs per task, for executors "
                                 "that place tasks on a cluster (ray)")
    include_base: bool = Field(True, description="evaluate the model before fine-tuning as its own row")
    primary: list[PrimaryComparison] = Field(default_factory=list, description="comparisons named before the "
                                             "study runs, each tested over seeds with Holm over these only; "
                                             "every other difference in the report is exploratory")
    row_tests: dict[str, list[str]] = Field(default_factory=dict, description="test templates per row, in place of "
                                            "the study's columns for that row: a row is base, a training template "
                                            "or a baseline's name; a row not named here is tested with "
                                            "test_templates (and a baseline with its own after them)")

    @field_validator("executor")
    @classmethod
    def _registered_executor(cls, name: str) -> str:
        return executors.validate(name)

    @field_validator("evals")
    @classmethod
    def _unique_eval_names(cls, v: list[EvalSet]) -> list[EvalSet]:
        names = [e.name for e in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"eval names must be unique, repeated: {', '.join(sorted(dup))}")
        if not v:
            raise ValueError("at least one evaluation set is needed")
        return v

    @model_validator(mode="after")
    def _judged_scorers_have_a_judge(self) -> StudyConfig:
        from ptst.score.base import needs_judge, scorers

        for name in dict.fromkeys(n for e in self.evals for n in e.scorers):
            if name in scorers and needs_judge(name) and not (self.judge_for(name) or JudgeOptions()).configured:
                raise ValueError(f"the {name} scorer needs a judge: set judge.base_url + judge.judge_model, or "
                                 f"judge.judge_local (or judges.{name})")
        return self

    @model_validator(mode="after")
    def _row_tests_name_rows(self) -> StudyConfig:
        rows = self.rows()
        for row, tests in self.row_tests.items():
            if row not in rows:
                raise ValueError(f"row_tests: {row!r} is not a row of this study (its rows: {', '.join(rows)})")
            if not tests:
                raise ValueError(f"row_tests.{row}: give at least one test template (or leave the row out)")
        return self

    @model_validator(mode="after")
    def _primary_names_cells_of_the_study(self) -> StudyConfig:
        from ptst.score.base import scorers

        own = {b.name: b.test_templates for b in ((self.train.baselines or []) if self.train else [])}
        evals = {e.name: e for e in self.evals}
        names = [c.name for c in self.primary]
        if len(set(names)) != len(names):
            repeated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"primary: names must be unique, repeated: {', '.join(repeated)}")
        for i, comparison in enumerate(self.primary):
            where = f"primary[{i}] ({comparison.name})"
            for which in ("a", "b"):
                row, test = comparison.cell(which)
                if row not in self.rows():
                    raise ValueError(f"{where}.{which}: {row!r} is not a row of this study (its rows: "
                                     f"{', '.join(self.rows())})")
                if test != PREFLIGHT and test not in self.tests_of_row(row, own.get(row)):
                    raise ValueError(f"{where}.{which}: the row {row} is not tested with {test} (its test "
                                     f"templates: {', '.join(self.tests_of_row(row, own.get(row)))})")
            if comparison.set not in evals:
                raise ValueError(f"{where}.set: {comparison.set!r} is not one of the evals ({', '.join(evals)})")
            declared = [m.name for n in evals[comparison.set].scorers if n in scorers
                        for m in getattr(scorers.get(n), "metrics", ())]
            if comparison.metric and comparison.metric not in declared:
                raise ValueError(f"{where}.metric: the scorers of {comparison.set} report no {comparison.metric!r} "
                                 f"(they report: {', '.join(declared)})")
        return self

    def rows(self) -> list[str]:
        """The grid's rows: base (when included), the training templates, the baselines' names."""
        train = self.train
        baselines = (train.baselines or []) if train else []
        return [*(["base"] if self.include_base else []), *(train.templates if train else []),
                *(b.name for b in baselines)]

    def tests_of_row(self, row: str, own: list[str] | None = None) -> list[str]:
        """The test templates a row is tested with: its `row_tests` entry, else the study's columns and then
        `own` (a baseline's own test templates)."""
        if row in self.row_tests:
            return list(dict.fromkeys(self.row_tests[row]))
        return list(dict.fromkeys([*self.test_templates, *(own or [])]))

    def judge_for(self, scorer: str) -> JudgeOptions | None:
        """The judge options of a scorer: its own under `judges`, else the study's `judge`."""
        return self.judges.get(scorer) or self.judge


def with_compute_dtype(cfg: StudyConfig) -> StudyConfig:
    """The config with `dtype: auto` replaced by the type it computes in on this machine (bfloat16 where the
    hardware has a bf16 unit). The dtype is part of every cell's and training run's identity, so samples made in
    different precisions never share a cell, and a run directory moved to a machine where `auto` means another
    type is refused by its config check instead of mixing the two."""
    from ptst.models.load import resolve_dtype

    return cfg.model_copy(update={"dtype": resolve_dtype(cfg.dtype, cfg.device)})


def names_preflight(cfg: StudyConfig) -> bool:
    """Whether a template list of the study names the placeholder `preflight`."""
    return PREFLIGHT in [*cfg.test_templates, *(cfg.train.templates if cfg.train else []),
                         *(t for tests in cfg.row_tests.values() for t in tests)]


def with_preflight_choice(cfg: StudyConfig, template: str) -> StudyConfig:
    """The config with the placeholder `preflight` replaced by TEMPLATE in every template list (the pre-flight's
    recommendation when the study runs; a stand-in for a dry run's count)."""
    data = cfg.model_dump()

    def swap(names: list[str]) -> list[str]:
        return list(dict.fromkeys(template if n == PREFLIGHT else n for n in names))

    data["test_templates"] = swap(data["test_templates"])
    data["row_tests"] = {(template if row == PREFLIGHT else row): swap(tests)
                         for row, tests in data["row_tests"].items()}
    for comparison in data["primary"]:
        for which in ("a", "b"):
            comparison[which] = " -> ".join(template if part == PREFLIGHT else part
                                            for part in comparison[which].split(" -> "))
    if data["train"]:
        data["train"]["templates"] = swap(data["train"]["templates"])
    return StudyConfig.model_validate(data)


def load_study_config(path: str | Path, overrides: dict | None = None) -> StudyConfig:
    """Read and validate a study YAML; relative data and template file paths resolve against the YAML's folder."""
    path = Path(path)
    doc = read_yaml(path, "study config") or {}
    if not isinstance(doc, dict):
        raise PtstError(f"{path}: expected a mapping at the top level")
    doc.update(overrides or {})
    cfg = validate_record(StudyConfig, doc, str(path))
    return _resolve_paths(cfg, path.parent)


def _resolve_paths(cfg: StudyConfig, base: Path) -> StudyConfig:
    def fix(p: str | None) -> str | None:
        if p is None or Path(p).is_absolute():
            return p
        return str((base / p).resolve()) if (base / p).exists() else p

    data = cfg.model_dump()
    data["template_files"] = [fix(p) for p in cfg.template_files]
    for e in data["evals"]:
        e["data_file"] = fix(e["data_file"])
        for part in e["plus"]:
            part["data_file"] = fix(part["data_file"])
    if data["train"]:
        data["train"]["data_file"] = fix(data["train"]["data_file"])
        data["train"]["mix_file"] = fix(data["train"]["mix_file"])
        for b in data["train"]["baselines"] or []:
            b["mix_file"] = fix(b["mix_file"])
    for judge in [data["judge"], *data["judges"].values()]:
        if judge and judge["rubric"]:
            judge["rubric"] = fix(judge["rubric"])
    return StudyConfig.model_validate(data)
