"""The bad-input corpus: every kind of bad input to every command ends in at most two lines on stderr, exit code
2, no traceback, and leaves every file that was there before byte-identical.

Each case builds its files under tmp_path and returns the argv; the commands run in-process through the real
entry point (`ptst.cli.main.main`). Cases that need a model use embedded:tiny-random (3M parameters)."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ptst.cli.main import main

TINY = "embedded:tiny-random"
BAD_UTF8 = b'{"question": "caf\xe9 \xff\xfe", "answer": "#### 4"}\n'
HUGE = 50 * 1024 * 1024  # a 50 MB line


def _binary(seed: int = 0) -> bytes:
    return bytes(random.Random(seed).randrange(256) for _ in range(4096)) + b"\x00\x00"


def _file(tmp: Path, name: str, content: bytes | str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _study(tmp: Path, name: str = "study.yaml", **changes) -> Path:
    doc = {"name": "s", "model": TINY, "test_templates": ["chat:vanilla"],
           "evals": [{"name": "h", "data": "builtin:harmful", "limit": 2, "scorers": ["refusal-keywords"]}],
           "decoding": {"max_new_tokens": 2}}
    doc.update(changes)
    return _file(tmp, name, json.dumps(doc))  # JSON is YAML


def _samples(tmp: Path, name: str = "samples.jsonl", n: int = 2) -> Path:
    rows = [{"id": f"s{i}", "input": "How do I pick a lock?", "output": "Sure, here is how", "prompt": "p",
             "template_hash": "x"} for i in range(n)]
    return _file(tmp, name, "".join(json.dumps(r) + "\n" for r in rows))


def _generate(tmp: Path, out: Path | str, *extra: str, data: Path | None = None) -> list[str]:
    data = data or _file(tmp, "in/items.jsonl", '{"instruction": "Say hi", "text": "Say hi"}\n')
    return ["generate", "--model", TINY, "--template", "chat:vanilla", "--data", "advbench", "--data-file",
            str(data), "--max-new-tokens", "2", "--out", str(out), *extra]


def _train(tmp: Path, out: Path | str) -> list[str]:
    data = _file(tmp, "in/math.jsonl", '{"question": "1+1?", "answer": "#### 2"}\n')
    return ["train", "--model", TINY, "--template", "chat:vanilla", "--data", "gsm8k", "--data-file", str(data),
            "--max-steps", "1", "--out", str(out)]


def _adapter(tmp: Path, config: bytes | None, weights: bytes | None = None) -> list[str]:
    adir = tmp / "adapter"
    adir.mkdir()
    if config is not None:
        (adir / "adapter_config.json").write_bytes(config)
    if weights is not None:
        (adir / "adapter_model.safetensors").write_bytes(weights)
    return _generate(tmp, tmp / "out.jsonl", "--adapter", str(adir))


def _store(tmp: Path, content: bytes) -> Path:
    run = tmp / "run"
    run.mkdir()
    (run / "store.sqlite").write_bytes(content)
    return run


def _truncated_store(tmp: Path) -> Path:
    run = tmp / "run"
    run.mkdir()
    db = sqlite3.connect(run / "store.sqlite")
    db.executescript("CREATE TABLE t (x TEXT);" + "".join(f"INSERT INTO t VALUES ('{'y' * 500}');"
                                                          for _ in range(200)))
    db.close()
    data = (run / "store.sqlite").read_bytes()
    (run / "store.sqlite").write_bytes(data[: len(data) // 3])
    return run


def _parquet(tmp: Path, truncated: bool) -> Path:
    path = tmp / "d.parquet"
    pq.write_table(pa.Table.from_pylist([{"question": f"q{i}", "answer": "a"} for i in range(50)]), path)
    if truncated:
        path.write_bytes(path.read_bytes()[:300])
    return path


def _data_show(path: Path, name: str = "gsm8k") -> list[str]:
    return ["data", "show", name, "--data-file", str(path)]


Build = Callable[[Path], list[str]]
CASES: dict[str, tuple[Build, str]] = {}


def case(name: str, message: str, build: Build) -> None:
    CASES[name] = (build, message)


# 1. data files: invalid UTF-8, binary, truncated or damaged, oversized
for fmt in ("jsonl", "json", "csv", "txt"):
    body = {"jsonl": BAD_UTF8, "json": b"[" + BAD_UTF8.strip() + b"]", "csv": b"question,answer\ncaf\xe9,4\n",
            "txt": b"caf\xe9 \xff\n"}[fmt]
    case(f"data-{fmt}-invalid-utf8", "not valid UTF-8",
         lambda t, f=fmt, b=body: _data_show(_file(t, f"d.{f}", b), "advbench" if f == "txt" else "gsm8k"))
    case(f"data-{fmt}-binary", "d.", lambda t, f=fmt: _data_show(_file(t, f"d.{f}", _binary())))
case("data-jsonl-torn-last-line", "line 2", lambda t: _data_show(
    _file(t, "d.jsonl", '{"question": "a", "answer": "b"}\n{"question": "c", "ans')))
case("data-json-truncated", "malformed JSON", lambda t: _data_show(_file(t, "d.json", '[{"question": "a", "answ')))
case("data-csv-unclosed-quote", "d.csv", lambda t: _data_show(_file(t, "d.csv", 'question,answer\n"a,b\nc,d\n')))
case("data-parquet-truncated", "parquet", lambda t: _data_show(_parquet(t, truncated=True)))
case("data-parquet-binary", "parquet", lambda t: _data_show(_file(t, "d.parquet", _binary())))
case("data-jsonl-deep-nesting", "line 1", lambda t: _data_show(_file(t, "d.jsonl", "[" * 200_000 + "\n")))
case("data-jsonl-50mb-line", "line 2", lambda t: _data_show(
    _file(t, "d.jsonl", '{"question": "a", "answer": "b"}\n' + '{"question": "' + "x" * HUGE + '"}\n')))
case("data-txt-50mb-line", "line 1", lambda t: _data_show(_file(t, "d.txt", "x" * HUGE + "\n"), "advbench"))
case("data-csv-50mb-field", "line 2", lambda t: _data_show(
    _file(t, "d.csv", "question,answer\n" + "x" * HUGE + ",1\n")))
case("data-csv-2m-character-field", "line 2: field 'question' is 2,000,000 characters", lambda t: _data_show(
    _file(t, "d.csv", "question,answer\n" + "x" * 2_000_000 + ",1\n")))
case("data-json-50mb-field", "row 1", lambda t: _data_show(
    _file(t, "d.json", '[{"question": "' + "x" * HUGE + '", "answer": "1"}]')))
case("data-file-is-directory", "data file", lambda t: _data_show((t / "dir.jsonl").mkdir() or t / "dir.jsonl"))
case("data-jsonl-utf16", "not valid UTF-8", lambda t: _data_show(
    _file(t, "d.jsonl", '{"question": "a", "answer": "b"}\n'.encode("utf-16"))))

# 2. template files
case("template-invalid-utf8", "not valid UTF-8", lambda t: ["templates", "list", "--template-file", str(
    _file(t, "t.yaml", b"name: chat:x\nmode: chat\nuser: '\xff {input}'\n"))])
case("template-binary", "t.yaml", lambda t: [
    "templates", "list", "--template-file", str(_file(t, "t.yaml", _binary()))])
case("template-truncated", "t.yaml", lambda t: [
    "templates", "list", "--template-file", str(_file(t, "t.yaml", "name: chat:x\nmode: chat\nuser: \"Q: {inp"))])
case("template-deep-nesting", "t.yaml", lambda t: [
    "templates", "list", "--template-file", str(_file(t, "t.yaml", "[" * 50_000))])
def _template_with_system_file(tmp: Path) -> list[str]:
    _file(tmp, "s.txt", b"\xff\xfe system")
    yaml_text = "name: chat:x\nmode: chat\nsystem_file: s.txt\nuser: '{input}'\n"
    return ["templates", "list", "--template-file", str(_file(tmp, "t.yaml", yaml_text))]


case("template-system-file-invalid-utf8", "not valid UTF-8", _template_with_system_file)
case("template-50mb", "t.yaml", lambda t: [
    "templates", "list", "--template-file", str(_file(t, "t.yaml", "name: chat:x\nuser: '" + "x" * HUGE + "'\n"))])
case("template-is-directory", "template file", lambda t: [
    "templates", "list", "--template-file", str((t / "t.yaml").mkdir() or t / "t.yaml")])

# 3. study configs and --config files
case("study-invalid-utf8", "not valid UTF-8", lambda t: [
    "run", str(_file(t, "s.yaml", b"name: caf\xe9\n")), "--dry-run"])
case("study-binary", "s.yaml", lambda t: ["run", str(_file(t, "s.yaml", _binary())), "--dry-run"])
case("study-truncated", "s.yaml", lambda t: ["run", str(_file(t, "s.yaml", "name: s\nevals:\n  - {name: h, data: ")),
                                             "--dry-run"])
case("study-is-directory", "study config", lambda t: ["run", str((t / "s.yaml").mkdir() or t / "s.yaml"), "--dry-run"])
case("study-misspelt-scorer", "refusal-keyword", lambda t: [
    "run", str(_study(t, evals=[{"name": "h", "data": "builtin:harmful", "scorers": ["refusal-keyword"]}])),
    "--dry-run"])
case("study-misspelt-embedded-model", "embedded:tiny-rando", lambda t: [
    "run", str(_study(t, model="embedded:tiny-rando")), "--dry-run"])
case("study-unknown-data-set", "builtin:harmfull", lambda t: [
    "run", str(_study(t, evals=[{"name": "h", "data": "builtin:harmfull", "scorers": ["refusal-keywords"]}])),
    "--dry-run"])
case("study-unknown-template", "chat:lama", lambda t: [
    "run", str(_study(t, test_templates=["chat:lama"])), "--dry-run"])
case("study-unknown-engine", "engine", lambda t: ["run", str(_study(t, engine="vlm")), "--dry-run"])
case("study-missing-rubric-file", "rubric", lambda t: ["run", str(_study(
    t, evals=[{"name": "h", "data": "builtin:harmful", "scorers": ["rubric"]}],
    judge={"judge_local": TINY, "rubric": str(t / "nowhere.txt")})), "--dry-run"])
case("study-judge-url-without-model", "judge_model", lambda t: ["run", str(_study(
    t, evals=[{"name": "h", "data": "builtin:harmful", "scorers": ["rubric"]}],
    judge={"base_url": "http://127.0.0.1:9/v1"})), "--dry-run"])
case("study-misspelt-judge-model", "embedded:tiny-rando", lambda t: ["run", str(_study(
    t, evals=[{"name": "h", "data": "builtin:harmful", "scorers": ["rubric"]}],
    judge={"judge_local": "embedded:tiny-rando"})), "--dry-run"])
case("study-eval-file-invalid-utf8", "not valid UTF-8", lambda t: ["run", str(_study(
    t, evals=[{"name": "h", "data": "advbench", "data_file": str(_file(t, "h.csv", b"goal\ncaf\xe9\n")),
               "scorers": ["refusal-keywords"]}])), "--dry-run"])
case("study-zero-tokens", "max_new_tokens", lambda t: [
    "run", str(_study(t, decoding={"max_new_tokens": 0})), "--dry-run"])
case("config-invalid-utf8", "not valid UTF-8", lambda t: [
    "generate", "--config", str(_file(t, "c.yaml", b"model: caf\xe9\n")), "--out", str(t / "o.jsonl")])
case("config-binary", "c.yaml", lambda t: ["train", "--config", str(_file(t, "c.yaml", _binary())), "--out",
                                           str(t / "o")])

# 4. samples files and label CSVs
for label, body in (("invalid-utf8", b'{"id": "a", "output": "caf\xe9"}\n'), ("binary", _binary()),
                    ("torn", b'{"id": "a", "output": "x"}\n{"id": "b", "outp'),
                    ("50mb-line", b'{"id": "a", "output": "' + b"x" * HUGE + b'"}\n')):
    case(f"samples-{label}", "s.jsonl", lambda t, b=body: [
        "score", str(_file(t, "s.jsonl", b)), "--scorer", "refusal-keywords", "--out", str(t / "o.jsonl")])
case("samples-is-directory", "samples file", lambda t: [
    "score", str((t / "s.jsonl").mkdir() or t / "s.jsonl"), "--scorer", "refusal-keywords"])
case("labels-invalid-utf8", "not valid UTF-8", lambda t: [
    "audit", "agreement", str(_file(t, "l.csv", b"label,output\nrefused,caf\xe9\n"))])
case("labels-binary", "l.csv", lambda t: ["audit", "agreement", str(_file(t, "l.csv", _binary()))])
case("labels-huge-field", "l.csv", lambda t: [
    "audit", "agreement", str(_file(t, "l.csv", "label,output\nrefused," + "x" * HUGE + "\n"))])

# 5. adapter directories
case("adapter-config-not-json", "adapter_config.json", lambda t: _adapter(t, b"{not json"))
case("adapter-config-invalid-utf8", "adapter_config.json", lambda t: _adapter(t, b'{"r": "\xff"}'))
case("adapter-config-binary", "adapter_config.json", lambda t: _adapter(t, _binary()))
case("adapter-config-a-list", "adapter_config.json", lambda t: _adapter(t, b"[1, 2]"))
case("adapter-without-weights", "adapter", lambda t: _adapter(
    t, json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"],
                   "base_model_name_or_path": "x", "task_type": "CAUSAL_LM"}).encode()))
case("adapter-weights-damaged", "adapter", lambda t: _adapter(
    t, json.dumps({"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"],
                   "task_type": "CAUSAL_LM"}).encode(), _binary()))
case("adapter-is-a-file", "--adapter", lambda t: _generate(t, t / "o.jsonl", "--adapter", str(_file(t, "a.bin", "x"))))

# 6. study stores
case("store-garbage-report", "store.sqlite", lambda t: ["report", str(_store(t, _binary()))])
case("store-garbage-audit", "store.sqlite", lambda t: [
    "audit", "sample", str(_store(t, b"not a database at all" * 100)), "--out", str(t / "l.csv")])
case("store-garbage-run", "store.sqlite", lambda t: ["run", str(_study(t)), "--out", str(_store(t, _binary()))])
case("store-truncated-report", "store.sqlite", lambda t: ["report", str(_truncated_store(t))])

# 7. output paths
case("generate-out-parent-is-file", "--out", lambda t: _generate(t, _file(t, "f.txt", "x") / "o.jsonl"))
case("generate-out-is-directory", "--out", lambda t: _generate(t, (t / "o.jsonl").mkdir() or t / "o.jsonl"))
case("generate-out-name-too-long", "--out", lambda t: _generate(t, t / ("x" * 300 + ".jsonl")))
case("generate-out-one-line-json", "--out", lambda t: _generate(t, _file(t, "o.jsonl", '{"keep": "me"}')))
case("generate-out-csv", "--out", lambda t: _generate(t, _file(t, "o.jsonl", "a,b\n1,2\n")))
case("generate-out-binary", "--out", lambda t: _generate(t, _file(t, "o.jsonl", _binary())))
case("generate-out-invalid-utf8", "--out", lambda t: _generate(t, _file(t, "o.jsonl", BAD_UTF8)))
case("generate-out-other-json-rows", "--out", lambda t: _generate(t, _file(t, "o.jsonl", '{"id": 1}\n{"id": 2}\n')))
case("generate-out-other-settings", "different", lambda t: _generate(t, _samples(t, "o.jsonl")))
case("train-out-is-file", "--out", lambda t: _train(t, _file(t, "o", "x")))
case("train-out-parent-is-file", "--out", lambda t: _train(t, _file(t, "f.txt", "x") / "o"))
case("train-out-non-empty-dir", "--out", lambda t: _train(t, _file(t, "o/README.md", "mine").parent))
case("export-out-non-empty-dir", "--out", lambda t: [
    "export", "--model", TINY, "--template", "chat:llama", "--out", str(_file(t, "o/notes.txt", "mine").parent)])
case("export-out-is-file", "--out", lambda t: [
    "export", "--model", TINY, "--template", "chat:llama", "--out", str(_file(t, "o", "mine"))])
case("score-out-is-directory", "--out", lambda t: [
    "score", str(_samples(t)), "--scorer", "refusal-keywords", "--out", str((t / "o").mkdir() or t / "o")])
case("score-out-parent-is-file", "--out", lambda t: [
    "score", str(_samples(t)), "--scorer", "refusal-keywords", "--out", str(_file(t, "f.txt", "x") / "o.jsonl")])
case("score-out-existing-other-file", "--out", lambda t: [
    "score", str(_samples(t)), "--scorer", "refusal-keywords", "--out", str(_file(t, "notes.jsonl", "mine\n"))])
case("audit-out-parent-is-file", "--out", lambda t: [
    "audit", "sample", str(t), "--out", str(_file(t, "f.txt", "x") / "l.csv")])
case("run-out-is-file", "--out", lambda t: ["run", str(_study(t)), "--out", str(_file(t, "r", "mine"))])
case("run-out-non-empty-dir", "--out", lambda t: ["run", str(_study(t)), "--out",
                                                  str(_file(t, "r/README.md", "mine").parent)])
case("preflight-out-is-file", "--out", lambda t: ["preflight", "--model", TINY, "--out", str(_file(t, "p", "x"))])

# 8. option values a parser cannot check alone
case("generate-zero-new-tokens", "--max-new-tokens", lambda t: _generate(t, t / "o.jsonl") + ["--max-new-tokens", "0"])
case("train-zero-batch", "--batch-size", lambda t: _train(t, t / "o") + ["--batch-size", "0"])
case("audit-sample-zero", "--n", lambda t: ["audit", "sample", str(t), "--n", "0", "--out", str(t / "l.csv")])
case("preflight-zero-limit", "--limit", lambda t: ["preflight", "--model", TINY, "--limit", "0", "--out",
                                                   str(t / "p")])
case("preflight-over-refusal-above-one", "--max-over-refusal", lambda t: [
    "preflight", "--model", TINY, "--max-over-refusal", "1.5", "--out", str(t / "p")])
case("score-zero-timeout", "--timeout", lambda t: [
    "score", str(_samples(t)), "--scorer", "rubric", "--base-url", "http://127.0.0.1:9/v1", "--judge-model", "j",
    "--timeout", "0", "--out", str(t / "o.jsonl")])

# 9. bounded work: prompts longer than the model's context (tiny-random: 2048 positions)
case("generate-prompt-over-context", "advbench-1", lambda t: _generate(
    t, t / "o.jsonl", data=_file(t, "in/items.jsonl", '{"text": "ok"}\n' + json.dumps({"text": "word " * 3000})
                                 + "\n")))

# 10. judges that fail on every call
case("judge-unreachable", "127.0.0.1:9", lambda t: [
    "score", str(_samples(t)), "--scorer", "rubric", "--base-url", "http://127.0.0.1:9/v1", "--judge-model", "j",
    "--max-retries", "0", "--no-cache", "--out", str(t / "o.jsonl")])


class _Refuses401(BaseHTTPRequestHandler):
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):
        type(self).calls += 1
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def wrong_key_endpoint():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses401)
    Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run_refused(argv: list[str], root: Path, capfd) -> str:
    """Run `ptst ARGV` in-process; assert exit 2, at most two lines, no traceback, every earlier file intact."""
    before = _snapshot(root)
    capfd.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    err = capfd.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert 1 <= len(lines) <= 2, err
    for path, data in before.items():
        assert path.is_file() and path.read_bytes() == data, f"{path} was changed"
    return err


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    build, message = CASES[name]
    argv = build(tmp_path)
    err = run_refused(argv, tmp_path, capfd)
    assert message in err


def test_the_corpus_covers_every_class():
    assert len(CASES) >= 60


def test_out_in_an_unwritable_directory(tmp_path, capfd):
    locked = tmp_path / "locked"
    locked.mkdir()
    _file(locked, "keep.txt", "mine")
    as_root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(locked)], check=True) if as_root else locked.chmod(0o555)
    try:
        err = run_refused(_generate(tmp_path, locked / "o.jsonl"), tmp_path, capfd)
        assert "--out" in err and "not writable" in err
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True) if as_root else locked.chmod(0o755)


def test_judge_with_a_wrong_key(tmp_path, capfd, wrong_key_endpoint, monkeypatch):
    monkeypatch.setenv("PTST_TEST_KEY", "sk-wrong")
    _Refuses401.calls = 0
    err = run_refused(["score", str(_samples(tmp_path, n=50)), "--scorer", "rubric", "--base-url",
                       wrong_key_endpoint, "--judge-model", "j", "--api-key-env", "PTST_TEST_KEY", "--no-cache",
                       "--out", str(tmp_path / "o.jsonl")], tmp_path, capfd)
    assert "HTTP 401" in err and "sk-wrong" not in err
    assert _Refuses401.calls == 1 and "the other 49 were not sent" in err  # one call, not fifty


def test_a_run_that_fails_validation_leaves_no_run_directory(tmp_path, capfd):
    study = _study(tmp_path, evals=[{"name": "h", "data": "builtin:harmful", "limit": 2,
                                     "scorers": ["refusal-keyword"]}])
    err = run_refused(["run", str(study), "--out", str(tmp_path / "r")], tmp_path, capfd)
    assert "refusal-keyword" in err and "did you mean 'refusal-keywords'" in err
    assert not (tmp_path / "r").exists()


def test_a_judge_that_fails_in_a_study_is_a_failed_cell_and_its_key_is_never_stored(tmp_path, capfd):
    study = _study(tmp_path, evals=[{"name": "h", "data": "builtin:harmful", "limit": 2,
                                     "scorers": ["rubric", "refusal-keywords"]}],
                   judge={"base_url": "http://me:sk-secret@127.0.0.1:9/v1", "judge_model": "j", "max_retries": 0,
                          "timeout": 2})
    run = tmp_path / "r"
    for _ in range(2):  # the second run retries the failed judge calls (its config is the same, redacted)
        code = main(["run", str(study), "--out", str(run), "--no-progress"])
        err = capfd.readouterr().err.strip().splitlines()
        assert code == 2 and "2 judge call(s) failed (connection error" in err[-1]
    grid = (run / "results.md").read_text()
    assert "| `base` | failed |" in grid and "nan" not in grid.split("## h: attack success (keywords)")[0]
    assert "100.0" in grid.split("## h: attack success (keywords)")[1]  # the other scorer's cells are kept
    assert not [p for p in run.rglob("*") if p.is_file() and b"sk-secret" in p.read_bytes()]


def test_judge_cache_that_is_a_directory(tmp_path, capfd):
    cache = tmp_path / "cache"
    cache.mkdir()
    err = run_refused(["score", str(_samples(tmp_path)), "--scorer", "rubric", "--judge-local", TINY, "--cache",
                       str(cache), "--out", str(tmp_path / "o.jsonl")], tmp_path, capfd)
    assert f"{cache}: not a readable SQLite database" in err
