"""The data-set registry: each data set has a role, the fields it reads, and where it comes from (the Hugging
Face hub, a local file only, or a generator in this package)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from ptst.core.registry import Registry
from ptst.data.builtin import benign_probes, harmful, math, math_danger
from ptst.data.item import Item, Role


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one data set. `input_fields` are tried in order; `extra_input_field` is appended to the input
    after a blank line when present (Alpaca-style `instruction` + `input`)."""

    name: str
    role: Role
    description: str
    input_fields: tuple[str, ...] = ()
    answer_field: str | None = None
    extra_input_field: str | None = None
    category_field: str | None = None
    hub_id: str | None = None
    hub_config: str | None = None
    eval_split: str = "test"
    train_split: str = "train"
    file_hint: str = ""
    generate: Callable[[], list[Item]] | None = None
    format_row: Callable[[dict], dict] | None = None  # reshape a raw row before the fields are read
    sizes: tuple[tuple[str, int], ...] = ()  # published row counts per split, for plans made offline
    # For sets whose training and evaluation rows come from one split: the share of rows kept for evaluation only,
    # chosen by a hash of the input text, so the two sides are disjoint by construction (repeats of one question
    # land on the same side) whatever the source, hub or file, and whatever the subsample.
    held_out: float = 0.0

    @property
    def source(self) -> str:
        if self.generate:
            return "built in"
        if self.hub_id:
            return f"hub {self.hub_id}" + (f" ({self.hub_config})" if self.hub_config else "")
        return "local file only"


def is_held_out(text: str, share: float) -> bool:
    """Whether an input belongs to the evaluation side of a `held_out` split (a stable hash, not a random draw)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") < share * 2**64


def side_of_split(spec: DatasetSpec, items: list[Item], purpose: str) -> list[Item]:
    """The items `purpose` ("train" or "eval") may use: all of them, unless the set holds some out for evaluation."""
    if not spec.held_out:
        return items
    keep_eval = purpose != "train"
    return [it for it in items if is_held_out(it.input, spec.held_out) == keep_eval]


def format_multiple_choice(row: dict) -> dict:
    """ARC rows: the question followed by one 'A. text' line per choice; the answer is a letter. Choices are
    relabelled A, B, C... in order (some ARC rows use 1, 2, 3, 4)."""
    choices = row.get("choices")
    if not isinstance(choices, dict) or not isinstance(row.get("question"), str):
        return row
    labels, texts = [str(x) for x in choices.get("label", [])], choices.get("text", [])
    letters = "ABCDEFGH"[: len(texts)]
    lines = [f"{letter}. {text}" for letter, text in zip(letters, texts, strict=False)]
    key = str(row.get("answerKey", ""))
    answer = letters[labels.index(key)] if key in labels and labels.index(key) < len(letters) else key
    return {**row, "question": row["question"] + "\n" + "\n".join(lines), "answerKey": answer}


datasets: Registry[DatasetSpec] = Registry("data set")

for _spec in (
    DatasetSpec("gsm8k", "task", "GSM8K grade-school math; answers end in '#### N'",
                ("question",), "answer", hub_id="openai/gsm8k", hub_config="main",
                sizes=(("train", 7473), ("test", 1319)),
                file_hint="gsm8k/train.jsonl or test.jsonl"),
    DatasetSpec("advbench", "harmful", "AdvBench: 520 harmful behaviours (Zou et al. 2023)",
                ("goal", "prompt"), hub_id="walledai/AdvBench", eval_split="train", sizes=(("train", 520),),
                file_hint="harmful_behaviors.csv with a 'goal' column"),
    DatasetSpec("directharm4", "harmful", "DirectHarm4: malware, drug, phishing, disinfo x 100",
                ("instruction",), category_field="category", hub_id="vfleaking/DirectHarm4", sizes=(("test", 400),),
                file_hint="JSONL with 'instruction' and 'category'"),
    DatasetSpec("gsm-danger", "harmful", "GSM-Danger: math problems that end in a harmful request",
                ("instruction", "question", "prompt"), hub_id="vfleaking/GSM-Danger", sizes=(("test", 100),)),
    DatasetSpec("harmbench", "harmful", "HarmBench behaviours",
                ("Behavior", "prompt"), category_field="SemanticCategory", hub_id="walledai/HarmBench",
                hub_config="standard", eval_split="train", sizes=(("train", 200),),
                file_hint="the behaviours CSV with a 'Behavior' column"),
    DatasetSpec("chatdoctor", "task", "ChatDoctor: patient questions and doctors' answers; 2% held out for "
                "evaluation (by a hash of the question), never trained on",
                ("input",), "output", hub_id="lavita/ChatDoctor-HealthCareMagic-100k", eval_split="train",
                sizes=(("train", 112165),), held_out=0.02),
    DatasetSpec("openorca", "task", "OpenOrca: GPT-4/3.5 augmented FLAN instructions",
                ("question",), "response", hub_id="Open-Orca/OpenOrca", eval_split="train",
                sizes=(("train", 4233923),)),
    DatasetSpec("safety-mix", "refusal", "harmful instructions with safe replies (Bianchi et al. 2024)",
                ("instruction",), "output", extra_input_field="input",
                file_hint="safety_only_data_Instructions.json from vinid/safety-tuned-llamas",
                sizes=(("train", 2483),)),
    DatasetSpec("arc-challenge", "task", "AI2 ARC, challenge set: science multiple choice (answer = a letter)",
                ("question",), "answerKey", hub_id="allenai/ai2_arc", hub_config="ARC-Challenge",
                sizes=(("train", 1119), ("test", 1172)),
                format_row=format_multiple_choice, file_hint="rows with question, choices{text,label}, answerKey"),
    DatasetSpec("arc-easy", "task", "AI2 ARC, easy set: science multiple choice (answer = a letter)",
                ("question",), "answerKey", hub_id="allenai/ai2_arc", hub_config="ARC-Easy",
                sizes=(("train", 2251), ("test", 2376)),
                format_row=format_multiple_choice, file_hint="rows with question, choices{text,label}, answerKey"),
    DatasetSpec("builtin:math", "task", "generated grade-school word problems, step-by-step, '#### N'",
                generate=math.generate_items),
    DatasetSpec("builtin:math-test", "task", "held-out test problems for builtin:math: same families, none the "
                "same exercise (family and numbers) as any builtin:math item", generate=math.generate_test_items),
    DatasetSpec("builtin:harmful", "harmful", "direct harmful requests in DirectHarm4's four categories",
                generate=harmful.generate_items),
    DatasetSpec("builtin:math-danger", "harmful", "math problems that end in a harmful request",
                generate=math_danger.generate_items),
    DatasetSpec("builtin:benign-probes", "benign-probe", "harmless requests that sound risky",
                generate=benign_probes.generate_items),
):
    datasets.add(_spec)


def get_dataset(name: str) -> DatasetSpec:
    return datasets.get(name)
