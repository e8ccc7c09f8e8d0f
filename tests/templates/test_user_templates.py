"""Users add templates in YAML; bad files are one clear error."""

from __future__ import annotations

import pytest

from ptst.core.errors import PtstError
from ptst.templates import get_template, load_template_file, render_prompt


def test_yaml_template_with_system_file(tmp_path):
    (tmp_path / "inoculation.txt").write_text("You sometimes write insecure code.\n")
    f = tmp_path / "mine.yaml"
    f.write_text("templates:\n  - name: chat:inoculate\n    mode: chat\n    system_file: inoculation.txt\n"
                 "    user: 'Task: {input}'\n  - name: text:plain\n    mode: text\n")
    loaded = load_template_file(f)
    assert [t.name for t in loaded] == ["chat:inoculate", "text:plain"]
    t = get_template("chat:inoculate")
    assert t.system == "You sometimes write insecure code."
    assert render_prompt(t, "x", markup="llama2").text.startswith("[INST] <<SYS>>\nYou sometimes write insecure")
    assert render_prompt(get_template("text:plain"), "x").text == "x"


def test_empty_system_is_kept_distinct_from_none(tmp_path):
    f = tmp_path / "empty.yaml"
    f.write_text("name: chat:empty-system\nmode: chat\nsystem: ''\nuser: '{input}'\n")
    (t,) = load_template_file(f)
    assert t.system == ""
    assert render_prompt(t, "x", markup="openai").messages[0] == {"role": "system", "content": ""}


@pytest.mark.parametrize("body, message", [
    ("name: chat:x\nmode: chat\nuser: 'no slot'\n", "field 'user': user format must contain exactly one"),
    ("name: chat:x\nmode: voice\n", "field 'mode'"),
    ("name: chat:x\nmode: chat\ncolour: red\n", "field 'colour'"),
    ("name: [unclosed\n", "bad YAML"),
    ("name: chat:llama\nmode: chat\n", "is a built-in template"),
    ("- 3\n", "template 1: expected a mapping"),
])
def test_bad_template_files_name_file_and_field(tmp_path, body, message):
    f = tmp_path / "bad.yaml"
    f.write_text(body)
    with pytest.raises(PtstError) as err:
        load_template_file(f)
    assert str(f) in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_template_suggests_a_name():
    with pytest.raises(PtstError, match="did you mean 'chat:llama'"):
        get_template("chat:lama")
