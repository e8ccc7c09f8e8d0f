"""`ptst strip RUN_DIR`: reduce a run directory to what its report needs (no adapter weights)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ptst.cli.commands import command
from ptst.cli.console import note


@command("strip")
def register(sub) -> None:
    p = sub.add_parser("strip", help="remove a run directory's adapter weights, keeping what the report needs",
                       description="Remove the adapter (or model) weights, tokenizer copies and optimiser states "
                       "of a `ptst run` directory's training runs, keeping the store, the manifest, the report, "
                       "each training run's record and loss curve. `ptst report`, `ptst merge` and a resumed "
                       "`ptst run` read it as before (a resumed run trains an adapter again only if a cell that "
                       "uses it is unfinished). The same as `ptst run ... --keep-adapters no` once a run is done.")
    p.add_argument("run_dir", help="a `ptst run` directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ptst.core.errors import PtstError
    from ptst.core.runlock import hold_run_dir
    from ptst.store.study_store import FILENAME, StudyStore
    from ptst.study.strip import strip_run

    run_dir = Path(args.run_dir)
    if not (run_dir / FILENAME).is_file():
        raise PtstError(f"{run_dir}: no {FILENAME} here; is it a `ptst run` directory?")
    with hold_run_dir(run_dir):  # not while a run writes to it
        store = StudyStore(run_dir)
        try:
            unfinished = [c["id"] for c in store.active_cells() if not c["generated"]]
        finally:
            store.close()
        result = strip_run(run_dir)
    note(result.summary(run_dir))
    if unfinished:
        note(f"note: {len(unfinished)} cells are unfinished: running the study again trains their adapters again")
    return 0
