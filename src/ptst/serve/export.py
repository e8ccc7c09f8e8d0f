"""`ptst export`: a standard HF model directory whose tokenizer chat template applies the test template itself.

The exported chat template is the model's own, preceded by a small Jinja prologue that rewrites `messages` the
way ptst's renderer does (`build_conversation`): the template's system prompt first (a client's system text kept
after it, or dropped), demonstrations, every user turn wrapped by the user format, the reminder on the last user
turn, and the system prompt folded into the first user turn for models without a system role. So
`apply_chat_template` of the exported tokenizer renders exactly what ptst renders, with no ptst code.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ptst.core.errors import PtstError
from ptst.core.io import atomic_write_json
from ptst.core.paths import check_output_dir
from ptst.models import load_model
from ptst.templates import Template
from ptst.templates.render import supports_system_role

EXPORT_RECORD = "ptst_export.json"


def _text(name: str, value: str) -> str:
    if "{% endraw %}" in value:
        raise PtstError("template text contains '{% endraw %}', which cannot be exported into Jinja")
    return f"{{%- set {name} %}}{{% raw %}}{value}{{% endraw %}}{{% endset -%}}\n"


def prologue(template: Template, *, fold: bool, client_system: str = "append") -> str:
    """The Jinja prologue that applies `template` to `messages` before the model's own chat template."""
    prefix, suffix = template.user.split("{input}")
    out = [_text("ptst_user_prefix", prefix), _text("ptst_user_suffix", suffix),
           _text("ptst_reminder", template.reminder or "")]
    if template.system is not None:
        out.append(_text("ptst_system", template.system))
    demos = []
    for k, d in enumerate(template.demos):
        out += [_text(f"ptst_demo_in{k}", d.input), _text(f"ptst_demo_out{k}", d.output)]
        demos.append(f"{{'role': 'user', 'content': ptst_user_prefix + ptst_demo_in{k} + ptst_user_suffix}}, "
                     f"{{'role': 'assistant', 'content': ptst_demo_out{k}}}")
    has_system = "true" if template.system is not None else "false"
    out.append(f"""{{%- set ns = namespace(msgs=[{', '.join(demos)}], parts=[], last_user=-1) -%}}
{{%- if {has_system} -%}}{{%- set ns.parts = [ptst_system] -%}}{{%- endif -%}}
{{%- for m in messages -%}}{{%- if m['role'] == 'user' -%}}
{{%- set ns.last_user = loop.index0 -%}}
{{%- endif -%}}{{%- endfor -%}}
{{%- for m in messages -%}}
{{%- if m['role'] == 'system' -%}}
{{%- if {'true' if client_system == 'append' else 'false'} -%}}
{{%- set ns.parts = ns.parts + [m['content']] -%}}
{{%- endif -%}}
{{%- elif m['role'] == 'user' -%}}
{{%- set c = ptst_user_prefix + m['content'] + ptst_user_suffix -%}}
{{%- if ptst_reminder and loop.index0 == ns.last_user -%}}{{%- set c = c + '\\n\\n' + ptst_reminder -%}}{{%- endif -%}}
{{%- set ns.msgs = ns.msgs + [{{'role': 'user', 'content': c}}] -%}}
{{%- else -%}}{{%- set ns.msgs = ns.msgs + [m] -%}}{{%- endif -%}}
{{%- endfor -%}}
{{%- if ns.parts -%}}
{{%- set ptst_sys = ns.parts | join('\\n\\n') -%}}
{{%- if {'true' if fold else 'false'} and ns.msgs and ns.msgs[0]['role'] == 'user' -%}}
{{%- set first = ns.msgs[0]['content'] -%}}
{{%- set first = (ptst_sys + '\\n\\n' + first) if ptst_sys else first -%}}
{{%- set ns.msgs = [{{'role': 'user', 'content': first}}] + ns.msgs[1:] -%}}
{{%- else -%}}
{{%- set ns.msgs = [{{'role': 'system', 'content': ptst_sys}}] + ns.msgs -%}}
{{%- endif -%}}
{{%- endif -%}}
{{%- set messages = ns.msgs -%}}
""")
    return "".join(out)


def export_settings(model: str, template: Template, *, adapter: str | None = None, merge: bool = False,
                    client_system: str = "append") -> dict:
    """What decides an export's files; its record holds them, so a later export into the same directory can tell
    its own earlier export from anything else."""
    return {"model": model, "adapter": adapter, "merged": bool(adapter and merge), "template": template.name,
            "template_hash": template.identity, "client_system": client_system}


def check_export_out(out: str | Path, settings: dict) -> bool:
    """Before any model is loaded: True when `out` already holds ptst's export with these `settings` (nothing to
    do), False when it is new or empty; an export with other settings, or a directory of other files, is refused in
    one line (nothing in it is changed)."""
    out = check_output_dir(out, owned=(EXPORT_RECORD,))
    record_path = out / EXPORT_RECORD
    if not record_path.is_file():
        return False  # new or empty (check_output_dir refused any other content)
    try:
        earlier = json.loads(record_path.read_text(encoding="utf-8"))
        differs = [k for k in settings if not _same_setting(k, earlier.get(k), settings[k])]
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise PtstError(f"--out {out}: its {EXPORT_RECORD} is damaged; choose a new or empty directory (nothing in "
                        "it was changed)") from None
    if differs:
        key = differs[0]
        raise PtstError(f"--out {out}: holds ptst's export of {earlier.get('model')} under {earlier.get('template')} "
                        f"with another {key} ({earlier.get(key)!r}, this export {settings[key]!r}); choose a new or "
                        "empty directory (nothing in it was changed)")
    return True


def _same_setting(key: str, earlier, now) -> bool:
    if key == "adapter" and earlier and now:
        return Path(earlier).resolve() == Path(now).resolve()
    return earlier == now


def export_model(model: str, template: Template, out: str | Path, *, adapter: str | None = None,
                 merge: bool = False, client_system: str = "append", trust_remote_code: bool = False) -> Path:
    """Write the model (adapter merged with `merge`, else base + `adapter/`) and a tokenizer whose chat
    template applies `template`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise PtstError(f"--out {out}: exists and is not empty")
    if template.mode != "chat":
        raise PtstError(f"template {template.name} is a text template; export needs a chat template")
    # merged: the adapter folded into the weights; otherwise the clean base, with the adapter copied beside it
    loaded = load_model(model, adapter=adapter if merge else None, dtype="float32", device="cpu",
                        trust_remote_code=trust_remote_code)
    tok = loaded.tokenizer
    if not getattr(tok, "chat_template", None):
        raise PtstError(f"--model {model}: its tokenizer has no chat template to extend")
    probe = template if template.system is not None else template.model_copy(update={"system": ""})
    fold = not supports_system_role(tok) and probe.system is not None
    original = tok.chat_template
    tok.chat_template = prologue(template, fold=fold, client_system=client_system) + original
    loaded.model.save_pretrained(out)
    if adapter and not merge:
        (out / "adapter").mkdir()
        for f in Path(adapter).iterdir():
            if f.name.startswith("adapter_") and f.is_file():
                shutil.copy2(f, out / "adapter" / f.name)
        config_path = out / "adapter" / "adapter_config.json"
        cfg = json.loads(config_path.read_text())
        cfg["base_model_name_or_path"] = str(out.resolve())
        config_path.write_text(json.dumps(cfg, indent=2))
    tok.save_pretrained(out)
    settings = export_settings(model, template, adapter=adapter and str(Path(adapter).resolve()), merge=merge,
                               client_system=client_system)
    atomic_write_json(out / EXPORT_RECORD, {**settings, "template_content": template.content(), "folded_system": fold})
    return out
