"""Measurement: phrases or spans in the synthesis prompts? Features covered and near-copies of anchor text.

    .venv/bin/python bench/bench_prompt_evidence.py --workspace W --jobs 1,2,3

Reads finished synthesis jobs of a project (e.g. the same target list run with `fac synthesize
--evidence phrases`, `spans` and `both`) and prints, per job: its prompt evidence, how many target
features got a proposed candidate above delta, and how close the proposed candidates are to the
texts of the job's reference datasets (the anchor and seed): the word 3-gram Jaccard similarity of
each candidate's closest reference text (fac_engine/synthesis/dedup.py), its mean, and how many
reach the near-duplicate threshold of the job. A prompt that only makes the generator copy a
feature's trigger words from the anchor covers features with near-copies; the better prompt covers
more features with fewer of them.
"""

import argparse
from pathlib import Path

from fac_engine.synthesis.curation import SynthesisStore
from fac_engine.synthesis.dedup import ShingleIndex
from fac_engine.synthesis.job import JobSettings, dataset_index
from fac_engine.workspace.datasets import Workspace
from fac_engine.workspace.project import Project


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workspace", type=Path, required=True)
    ap.add_argument("--project", default="default")
    ap.add_argument("--jobs", required=True, help="comma-separated job ids")
    args = ap.parse_args()
    workspace = Workspace(args.workspace)
    store = SynthesisStore(Project(args.workspace, args.project))
    indexes: dict[tuple[str, ...], ShingleIndex] = {}
    print("job | evidence | mode | features | covered (proposed, g > delta) | mean closest Jaccard | near-copies")
    for job_id in (int(j) for j in args.jobs.split(",")):
        settings = JobSettings.from_json_dict(store.job_config(job_id))
        cfg = settings.synthesis
        key = settings.references
        if key not in indexes:  # reference texts only: candidates of other jobs are not counted as copies
            # any shared shingle counts, so `closest` gives the best similarity
            indexes[key] = dataset_index(workspace, settings.references, 1e-9)
        features = store.feature_rows(job_id)
        covering = [c for c in store.candidates(job_id) if c.g > c.threshold]
        closest = [m.similarity if (m := indexes[key].closest(c.text)) else 0.0 for c in covering]
        near = sum(s >= cfg.duplicate_jaccard for s in closest)
        mean = sum(closest) / len(closest) if closest else float("nan")
        print(f"{job_id} | {cfg.evidence} | {cfg.mode} | {len(features)} | {len({c.feature for c in covering})} "
              f"| {mean:.3f} | {near} of {len(covering)}")


if __name__ == "__main__":
    main()
