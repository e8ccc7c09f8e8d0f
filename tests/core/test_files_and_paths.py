"""Files read with bounded memory and errors naming the line and byte offset; JSONL never cut when it is not
ptst's; output paths checked before work; credentials redacted; validation errors naming the flag."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from argparse import Namespace

import pytest
from pydantic import BaseModel, Field, ValidationError

from ptst.cli.main import describe_failure
from ptst.core.errors import PtstError
from ptst.core.io import MAX_LINE_BYTES, JsonlAppender, decode_text, iter_text_lines, read_jsonl_rows
from ptst.core.paths import LOCK_NAME, check_output_dir, check_output_file
from ptst.core.redact import redact_config, redact_url
from ptst.core.validation import describe_validation_error
from ptst.core.yamlfile import read_yaml


def test_invalid_utf8_names_the_line_and_the_byte_offset(tmp_path):
    f = tmp_path / "d.txt"
    f.write_bytes(b"fine\nbad \xff here\n")
    with pytest.raises(PtstError, match=r"d.txt: line 2: not valid UTF-8 text at byte offset 9"):
        list(iter_text_lines(f))
    with pytest.raises(PtstError, match=r"line 1: binary content \(a NUL byte at byte offset 2\)"):
        decode_text(b"ab\x00c", "x")
    with pytest.raises(PtstError, match="UTF-16"):
        decode_text("hi".encode("utf-16"), "x")
    assert decode_text(b"\xef\xbb\xbfhello", "x") == "hello"  # a UTF-8 BOM is not part of the text


def test_a_50mb_line_is_refused_quickly_with_bounded_memory(tmp_path):
    f = tmp_path / "huge.jsonl"
    with open(f, "wb") as out:
        out.write(b'{"a": 1}\n{"q": "')
        out.write(b"x" * (50 << 20))
        out.write(b'"}\n')
    tracemalloc.start()
    try:
        with pytest.raises(PtstError, match=r"huge.jsonl: line 2 is longer than 8.0 MiB \(it starts at byte offset 9"):
            list(iter_text_lines(f))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_LINE_BYTES  # the 50 MB line itself is never held


def test_appending_never_cuts_a_file_that_has_no_complete_line(tmp_path):
    f = tmp_path / "notes.jsonl"
    f.write_text('{"keep": "me"}')
    with pytest.raises(PtstError, match="holds no complete JSON line"):
        JsonlAppender(f)
    assert f.read_text() == '{"keep": "me"}'
    f.write_text('{"id": "a"}\n{"id": "b", "outp')  # a write torn by a crash after a complete row
    with JsonlAppender(f) as sink:
        sink.write({"id": "c"})
    assert [r["id"] for r in read_jsonl_rows(f)] == ["a", "c"]


def test_reading_jsonl_names_the_bad_line(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(PtstError, match="s.jsonl: line 2: malformed JSON"):
        list(read_jsonl_rows(f))


def test_yaml_any_bytes_and_depth(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(PtstError, match="c.yaml: line 2: not valid UTF-8 text at byte offset 11"):
        read_yaml(f)
    f.write_text("[" * 20_000)
    with pytest.raises(PtstError, match="c.yaml: .*bad YAML"):
        read_yaml(f)


@pytest.mark.parametrize("make, message", [
    (lambda t: (t / "f.txt").write_text("x") and t / "f.txt" / "o.jsonl", "f.txt is a file, not a directory"),
    (lambda t: (t / "d").mkdir() or t / "d", "is a directory; give a file path"),
    (lambda t: t / ("x" * 300), "300 bytes long"),
    (lambda t: str(t / "a\x00b"), "NUL character"),
    (lambda t: "  ", "the path is empty"),
])
def test_output_file_checks(tmp_path, make, message):
    with pytest.raises(PtstError, match=message):
        check_output_file(make(tmp_path))


def test_output_file_in_new_directories_is_fine(tmp_path):
    assert check_output_file(tmp_path / "a" / "b" / "o.jsonl") == tmp_path / "a" / "b" / "o.jsonl"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_output_directory_checks(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "README.md").write_text("my notes")
    with pytest.raises(PtstError, match="holds files ptst did not write"):
        check_output_dir(tmp_path / "mine")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_NAME).write_text("")
    (tmp_path / "run" / "anything").write_text("")
    check_output_dir(tmp_path / "run")  # ptst's own (its lock file)
    (tmp_path / "ckpt" / "checkpoint-5").mkdir(parents=True)
    check_output_dir(tmp_path / "ckpt", owned=("checkpoint-*",))
    (tmp_path / "file").write_text("x")
    with pytest.raises(PtstError, match="is a file; give a directory"):
        check_output_dir(tmp_path / "file")


def test_output_in_an_unwritable_directory(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    as_root = os.geteuid() == 0
    subprocess.run(["chattr", "+i", str(locked)], check=True) if as_root else locked.chmod(0o555)
    try:
        with pytest.raises(PtstError, match="locked is not writable"):
            check_output_file(locked / "sub" / "o.jsonl")
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True) if as_root else locked.chmod(0o755)


def test_credentials_are_redacted():
    assert redact_url("https://me:sk-123@api.example.com:8443/v1?api_key=sk-9&x=1") == \
        "https://***@api.example.com:8443/v1?api_key=***&x=1"
    assert redact_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"
    assert redact_config({"judge": {"base_url": "http://u:p@h/v1", "judge_model": "m"}}) == \
        {"judge": {"base_url": "http://***@h/v1", "judge_model": "m"}}


class _Options(BaseModel):
    max_new_tokens: int = Field(1, ge=1)


def test_validation_errors_name_the_flag_and_the_value():
    with pytest.raises(ValidationError) as err:
        _Options.model_validate({"max_new_tokens": 0})
    text = describe_validation_error(err.value, "command line", flags=True)
    assert text == "command line: --max-new-tokens: Input should be greater than or equal to 1 (got 0)"
    assert "field 'max_new_tokens'" in describe_validation_error(err.value, "s.yaml")


def test_the_last_line_of_defence_names_the_path(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(b"label\n\xff\n")
    err = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    assert describe_failure(err, Namespace(labels=str(labels), out=None)).startswith(f"{labels}: not valid UTF-8")
    assert describe_failure(IsADirectoryError(21, "Is a directory", str(tmp_path)), Namespace()) == \
        f"{tmp_path}: Is a directory"


def test_ptst_debug_shows_the_traceback():
    args = [sys.executable, "-m", "ptst", "data", "show", "nope"]
    quiet = subprocess.run(args, capture_output=True, text=True)
    loud = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PTST_DEBUG": "1"})
    assert quiet.returncode == 2 and quiet.stderr.count("\n") == 1 and "Traceback" not in quiet.stderr
    assert loud.returncode != 0 and "Traceback" in loud.stderr and "unknown data set 'nope'" in loud.stderr
