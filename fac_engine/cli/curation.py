"""The curation verbs: `fac review` (decide on synthetic candidates headless, and list them) and `fac export`
(the accepted samples to a file, and into the workspace as a dataset)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from fac_engine.atomic import check_write_target
from fac_engine.cli.common import (
    add_model_options,
    add_project_option,
    add_sae_options,
    add_workspace_option,
    open_project,
    project_sae,
    workspace_root,
)
from fac_engine.cli.flags import non_negative_float
from fac_engine.errors import FacError

if TYPE_CHECKING:
    from fac_engine.synthesis.candidates import ReviewStatus
    from fac_engine.synthesis.curation import SynthesisStore


def add_review(p: argparse.ArgumentParser) -> None:
    """`fac review`."""
    from fac_engine.synthesis.candidates import STATUSES

    add_project_option(p, "whose candidates are reviewed")
    p.add_argument("--job", type=int, default=None, help="only this job's candidates")
    p.add_argument("--accept", default=None, help="candidate ids to accept, e.g. 3,8,12-15")
    p.add_argument("--reject", default=None, help="candidate ids to reject, e.g. 3,8,12-15")
    p.add_argument("--accept-above", type=non_negative_float, default=None,
                   help="accept every candidate still to review (pending or edited) with g > this")
    p.add_argument("--status", choices=STATUSES, default=None, help="list only candidates of this status")
    add_workspace_option(p)
    p.set_defaults(run=run_review)


def add_export(p: argparse.ArgumentParser) -> None:
    """`fac export`."""
    p.add_argument("out", type=Path, help="output file: .jsonl, .csv or .parquet")
    add_project_option(p, "whose accepted samples are exported")
    p.add_argument("--job", type=int, default=None, help="only this job's accepted samples")
    p.add_argument("--merge-seed", action="store_true", help="put the project's seed samples first")
    p.add_argument("--encode-as", default=None, metavar="NAME",
                   help="also encode the file into the workspace under this name")
    add_model_options(p)
    add_sae_options(p, of_project=True)
    add_workspace_option(p)
    p.set_defaults(run=run_export)


def _ids(text: str | None, flag: str) -> set[int]:
    """Candidate ids typed like feature ids ('3, 8 12-15')."""
    from fac_engine.coverage.feature_ids import parse_feature_ids

    if text is None:
        return set()
    ids = set(parse_feature_ids(text))
    if not ids:
        raise FacError(f"{flag} names no candidate id.")
    return ids


def decisions(args: argparse.Namespace) -> dict[int, ReviewStatus]:
    """The --accept and --reject decisions by candidate id; an id in both is an error."""
    accept, reject = _ids(args.accept, "--accept"), _ids(args.reject, "--reject")
    both = sorted(accept & reject)
    if both:
        shown = ", ".join(map(str, both[:10])) + (f" (+{len(both) - 10:,} more)" if len(both) > 10 else "")
        raise FacError(f"Candidate{'s' if len(both) > 1 else ''} {shown} cannot be both accepted and rejected; "
                       "nothing was decided.")
    chosen: dict[int, ReviewStatus] = dict.fromkeys(sorted(accept), "accepted")
    return chosen | dict.fromkeys(sorted(reject), "rejected")


def _store(args: argparse.Namespace) -> SynthesisStore:
    """The project's store; FacError for an unknown --job."""
    from fac_engine.synthesis.curation import SynthesisStore

    store = SynthesisStore(open_project(args))
    if args.job is not None:
        store.progress(args.job)  # raises when there is no such job
    return store


def run_review(args: argparse.Namespace) -> int:
    """Apply decisions (all or none), then list the candidates."""
    from fac_engine.synthesis.review import accept_above

    chosen = decisions(args)
    store = _store(args)
    if chosen:
        store.apply(chosen, job_id=args.job)
        print(f"decided on {len(chosen)} candidates: {sum(s == 'accepted' for s in chosen.values())} accepted, "
              f"{sum(s == 'rejected' for s in chosen.values())} rejected")
    if args.accept_above is not None:
        print(f"accepted {len(accept_above(store, args.job, args.accept_above))} candidates with g > "
              f"{args.accept_above:g}")
    cands = store.candidates(args.job, status=[args.status] if args.status else None)
    for c in cands:
        made = c.provenance
        notes = [f"near duplicate of {c.duplicate_of}" if c.duplicate_of else "",
                 f"steered at alpha {made.alpha:g} on layer {made.layer}" if made.alpha is not None else "",
                 "flagged by the fluency guard" if made.flagged else ""]
        flag = "".join(f"  [{n}]" for n in notes if n)
        text = " ".join(c.text.split())
        print(f"#{c.cand_id:<5} {c.status:<9} feature {c.feature:<6} g {c.g:6.2f}  {text[:90]}{flag}")
    counts: dict[str, int] = {}
    for c in cands:
        counts[c.status] = counts.get(c.status, 0) + 1
    print(f"{len(cands)} candidates: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Write the accepted samples and optionally encode them."""
    from fac_engine.cli.synthesis import encode_labelled
    from fac_engine.synthesis.export import accepted_frame, export_format, with_seed, write_export
    from fac_engine.workspace.datasets import Workspace, check_name

    out = check_write_target(args.out, "export")
    export_format(out)
    if args.encode_as:
        check_name(args.encode_as)
    store = _store(args)
    frame = accepted_frame(store, args.job)
    n_accepted = len(frame)
    if args.merge_seed and n_accepted:
        seed = store.project.config.seed
        if seed is None:
            raise FacError(f"Project '{store.project.name}' has no seed dataset to merge.")
        frame = with_seed(frame, Workspace(workspace_root(args)).open(seed))
    fmt = write_export(frame, out)
    print(f"wrote {len(frame):,} rows ({n_accepted:,} accepted samples) to {out} as {fmt}")
    if args.encode_as:
        project_sae(args, store.project)
        encode_labelled(args, out, args.encode_as, overwrite=True)
        print(f"compare it with `fac coverage --anchor ANCHOR --seed {args.encode_as}`")
    return 0
