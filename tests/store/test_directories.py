"""The owners of ptst's directories: `TrainingDir` (a `ptst train` output: weights, checkpoints, ptst_train.json)
and `RunDir` (a study's run directory: store, manifest, train/<run>/) write and read back their own files."""

from __future__ import annotations

import json

import pytest

from ptst.core.errors import PtstError
from ptst.store.run_dir import RunDir
from ptst.store.training_dir import TrainingDir


def test_a_training_record_reads_back_as_written(tmp_path):
    out = TrainingDir(tmp_path / "adapter")
    out.path.mkdir()
    assert not out.is_finished()
    with pytest.raises(PtstError, match=r"adapter: no ptst_train.json; not a finished ptst training directory$"):
        out.load_record()
    record = {"steps": 8, "loss_curve": [{"step": 1, "loss": 1.5}], "kind": "lora"}
    out.save_record(record)
    assert out.is_finished() and TrainingDir(out.path).load_record() == record
    assert json.loads((tmp_path / "adapter" / "ptst_train.json").read_text()) == record  # the documented file


def test_checkpoints_are_found_in_step_order_and_name_their_adapter(tmp_path):
    out = TrainingDir(tmp_path / "run")
    for name in ("checkpoint-10", "checkpoint-2", "checkpoint-x"):
        (out.path / name).mkdir(parents=True)
    (out.path / "checkpoint-3").write_text("a file, not a checkpoint")
    assert out.checkpoint_steps() == [2, 10]
    assert out.adapter() == out.path and out.adapter(10) == out.path / "checkpoint-10"


def test_a_partial_training_is_renamed_into_place_once(tmp_path):
    """Two attempts of one run (a retried task whose first try lived on): the first to finish is kept, the other
    removed, and no temporary directory stays behind."""
    final = TrainingDir(tmp_path / "train" / "chat-vanilla-seed0-abc")
    first, second = final.partial(), final.partial()
    assert first.path != second.path and first.path.parent == final.path.parent
    for attempt, steps in ((first, 4), (second, 5)):
        attempt.path.mkdir(parents=True)
        attempt.save_record({"steps": steps})
    assert first.finish_into(final).load_record() == {"steps": 4}
    assert second.finish_into(final).load_record() == {"steps": 4}
    assert sorted(p.name for p in final.path.parent.iterdir()) == ["chat-vanilla-seed0-abc"]


def test_partials_of_killed_attempts_are_removed_and_finished_runs_kept(tmp_path):
    run = RunDir(tmp_path)
    done = run.training("a-seed0-1")
    done.path.mkdir(parents=True)
    done.save_record({})
    for dirname in ("a-seed0-1", "b-seed0-2"):
        run.training(dirname).partial().path.mkdir(parents=True)
    run.training("b-seed0-2").remove_partials()
    assert [p.name for p in (tmp_path / "train").iterdir() if "b-seed0-2" in p.name] == []
    run.remove_partial_trainings()
    assert sorted(p.name for p in (tmp_path / "train").iterdir()) == ["a-seed0-1"] and done.is_finished()


def test_a_run_directory_owns_its_manifest_store_and_training_dirs(tmp_path):
    run = RunDir(tmp_path / "run")
    assert run.load_manifest() == {} and not run.has_store()
    run.save_manifest({"study": "smoke", "seeds": [0]})
    assert RunDir(tmp_path / "run").load_manifest() == {"study": "smoke", "seeds": [0]}
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["study"] == "smoke"
    run.open_store().close()
    assert run.has_store() and (tmp_path / "run" / "store.sqlite").is_file()
    assert run.training("chat-llama-seed0-90370850").path == tmp_path / "run" / "train" / "chat-llama-seed0-90370850"
    (tmp_path / "run" / "manifest.json").write_text("{not json")
    with pytest.raises(PtstError, match=r"manifest.json: line 1: malformed JSON .*damaged \(nothing was changed\)"):
        run.load_manifest()
    assert (tmp_path / "run" / "manifest.json").read_text() == "{not json"
