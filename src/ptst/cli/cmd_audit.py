"""`ptst audit`: check a study's scorers against a person's labels, labelled blind, and against each other.

    ptst audit sample RUN_DIR --n 100 --out labels.csv    # labels.csv (to fill in) + labels.key.csv (hidden)
    ptst audit agreement labels.csv                        # joins labels.key.csv; both keyword lists and the rest
    ptst audit agreement RUN_DIR | scored.jsonl            # every pair of judges: agreement and Cohen's kappa
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ptst.cli.commands import command
from ptst.cli.console import note, out


@command("audit")
def register(sub) -> None:
    p = sub.add_parser("audit", help="validate a study's scorers against hand labels",
                       description="Draw a random sample of a study's responses to harmful requests to label by "
                       "hand and blind (refused / partly complied / complied), then report each scorer's "
                       "precision and recall against the labels.")
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    s = steps.add_parser("sample", help="write a blind labels CSV (sample, label, input, output) and its key")
    s.add_argument("run_dir", help="a study's run directory")
    s.add_argument("--n", type=int, default=100, help="responses to draw (default: 100)")
    s.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    s.add_argument("--min-per-row", type=int, default=0, metavar="K",
                   help="stratify by row (base, each training template, each baseline): each row gets its share "
                   "of --n but at least K; the key records each response's weight (default: 0, uniform)")
    s.add_argument("--out", required=True, help="the labels CSV to write; an existing file is never overwritten")
    s.add_argument("--key", help="where the key (each sample's cell and stored verdicts) goes; default: beside "
                   "--out, labels.csv -> labels.key.csv. Keep it away from whoever labels")
    s.set_defaults(func=run_sample)
    a = steps.add_parser("agreement", help="how far the judges agree, with each other and with hand labels",
                         description="Pairwise agreement and Cohen's kappa (95% intervals) between every pair of "
                         "scorers' attack-success verdicts, on the samples both scored; with a labels file, also "
                         "against the hand labels, and each scorer's precision and recall.")
    a.add_argument("labels", metavar="SOURCE", help="a labelled CSV (`ptst audit sample`), a scored samples file "
                   "(`ptst score FILE --scorer a,b,c`, .jsonl) or a study's run directory")
    a.add_argument("--key", help="a labels file's key (default: beside the labels, labels.csv -> labels.key.csv)")
    a.add_argument("--out", help="also write the tables as Markdown to this file")
    a.add_argument("--json", metavar="FILE", help="also write the pairwise agreement as JSON to this file")
    a.set_defaults(func=run_agreement)


def run_sample(args: argparse.Namespace) -> int:
    from ptst.core.errors import PtstError
    from ptst.core.io import atomic_write_text
    from ptst.core.paths import check_output_file
    from ptst.report.audit import blind_csv, draw_sample, key_csv, key_path_for
    from ptst.store.run_dir import STORE, RunDir

    key = Path(args.key) if args.key else key_path_for(args.out)
    if Path(args.out).resolve() == key.resolve():
        raise PtstError(f"--key {key}: is the labels file itself; give another path")
    for flag, path in (("--out", Path(args.out)), ("--key", key)):
        if path.exists():
            raise PtstError(f"{flag} {path}: exists (it may hold labels); choose another file or remove it first")
        check_output_file(path, flag)
    if args.n < 1:
        raise PtstError(f"--n must be at least 1, got {args.n}")
    if args.min_per_row < 0:
        raise PtstError(f"--min-per-row must be 0 or more, got {args.min_per_row}")
    if not RunDir(args.run_dir).has_store():
        raise PtstError(f"{args.run_dir}: not a study run directory (no {STORE})")
    rows = draw_sample(args.run_dir, args.n, seed=args.seed, min_per_row=args.min_per_row)
    atomic_write_text(key, key_csv(rows))
    atomic_write_text(args.out, blind_csv(rows))
    note(f"wrote {len(rows)} responses to {args.out} (blind: no cell, template or verdict) and their key to {key}; "
         f"fill in the 'label' column (refused, partly complied, complied) without opening the key, then run: "
         f"ptst audit agreement {args.out}")
    return 0


def run_agreement(args: argparse.Namespace) -> int:
    import json

    from ptst.core.io import atomic_write_text
    from ptst.core.paths import check_output_file
    from ptst.report.agreement import agreement_json, from_labels, load_verdicts, pairwise, pairwise_markdown
    from ptst.report.audit import agreement_markdown, audit_rows

    for flag, path in (("--out", args.out), ("--json", args.json)):
        if path:
            check_output_file(path, flag)
    source = Path(args.labels)
    text = ""
    if source.is_file() and source.suffix not in (".jsonl",):  # a labels file: precision and recall too
        rows, blind = audit_rows(source, args.key)
        text, verdicts, what = agreement_markdown(rows, blind=blind) + "\n", from_labels(rows), f"labels {source}"
    else:
        verdicts, what = load_verdicts(source, args.key)
    pairs = pairwise(verdicts)
    text += pairwise_markdown(verdicts, pairs, what)
    out().print(text, markup=False)
    if args.out:
        atomic_write_text(args.out, text)
        note(f"wrote {args.out}")
    if args.json:
        atomic_write_text(args.json, json.dumps(agreement_json(pairs), indent=1) + "\n")
        note(f"wrote {args.json}")
    return 0
