"""The guided tour of the demo project on the home page: what the demo data is, what the seed misses,
what those features mean, what synthesis added and whether it helped downstream. Shown only when the
project's anchor and seed are the demo's."""

import numpy as np
import streamlit as st

from fac_app import state
from fac_app.columns import column_config
from fac_app.components import page_link
from fac_app.markup import escape_markdown
from fac_app.navigation import app_pages
from fac_engine.coverage import CoverageConfig
from fac_engine.evaluation import load_evaluation
from fac_engine.figures import evaluation_table
from fac_engine.report import latest_evaluation
from fac_engine.synthesis import Provenance, SynthesisStore, accepted_frame, live_coverage
from fac_engine.workspace import Project

DEMO_ANCHOR, DEMO_SEED = "demo-anchor", "demo-seed"
"""Names `fac demo` gives the demo datasets."""
SHOWN = 5
"""Missing features listed in the tour."""
EXAMPLES = 3
"""Accepted synthetic samples quoted in the tour."""


def is_demo(proj: Project) -> bool:
    """Whether the project looks at the demo anchor and seed."""
    cfg = proj.config
    return (cfg.anchor, cfg.seed) == (DEMO_ANCHOR, DEMO_SEED)


def demo_tour(proj: Project, delta: float) -> None:
    """Up to five short steps with live numbers and links."""
    result = state.coverage(DEMO_ANCHOR, DEMO_SEED, delta)
    anchor = state.support(DEMO_ANCHOR, delta)
    missing = np.asarray(result.missing, dtype=np.int64)
    strongest = missing[np.argsort(-anchor.count[missing], kind="stable")][:SHOWN] if missing.size else missing
    explanations = proj.explanations()
    with st.expander("Demo tour: what is this toxicity training set missing?", expanded=True,
                     icon=":material/tour:"):
        st.markdown(
            f"1. **The data.** The anchor `{DEMO_ANCHOR}` ({result.anchor_samples:,} labelled queries) samples what a "
            "toxicity detector must handle: toxic texts from ten categories and safe chat and instructions. The "
            f"seed `{DEMO_SEED}` ({result.seed_samples:,} queries) is shaped like the paper's training set, but its "
            "toxic rows come from only four categories (no threats, identity attacks, sexual content, flirtation, "
            "hateful questions or requests for harmful help).\n"
            f"2. **Coverage.** At δ = {delta:g} the seed activates **{result.covered:,} of the anchor's "
            f"{result.anchor_features:,} features** (FAC {100 * result.fac:.2f} %); **{len(result.missing):,}** are "
            "missing. Raise δ in the sidebar to count only strong activations: gaps in strength show up there.\n"
            "3. **What is missing**, most frequent in the anchor first (explanations: the tokens each feature "
            "fires on most, from `fac explain`):")
        for f in strongest.tolist():
            text = explanations.get(int(f), "no explanation yet")
            st.markdown(f"   - feature **{f}**: {escape_markdown(text)} · active on {int(anchor.count[f]):,} anchor "
                        "samples")
        page_link(app_pages().missing, "Review the missing features", icon=":material/checklist:")
        synthesis_step(proj, delta)
        evaluation_step()


def synthesis_step(proj: Project, delta: float) -> None:
    """Step 4: what synthesis produced and the FAC it gained, or where to start it."""
    store = SynthesisStore(proj)
    accepted = accepted_frame(store)
    pages = app_pages()
    if accepted.empty:
        st.markdown("4. **Fill the gaps.** Pick the missing features to fill on the *Missing features* page, then "
                    "generate samples that activate them and accept the good ones on the *Synthesis* and *Review* "
                    "pages. Nothing has been accepted yet.")
        page_link(pages.synthesis, "Synthesise samples for the missing features", icon=":material/auto_awesome:")
        page_link(pages.review, "Review the candidates", icon=":material/rate_review:")
        return
    gain = live_coverage(store, state.pooled_arrays(DEMO_SEED), state.support(DEMO_ANCHOR, delta),
                         CoverageConfig(threshold=delta, relevant=state.relevant_set()))
    kind = "task-relevant features" if state.relevant_set() is not None else "features"
    st.markdown(f"4. **What synthesis added.** {gain.accepted:,} synthetic samples are accepted; with them the seed "
                f"covers **{gain.after.covered:,}** of the anchor's {gain.after.anchor_features:,} {kind}: FAC "
                f"**{100 * gain.before.fac:.2f} % → {100 * gain.after.fac:.2f} %**. For example (fluent ones first):")
    text_column = "text" if "text" in accepted.columns else accepted.columns[0]
    accepted = accepted.assign(flagged=[Provenance.from_json(m).flagged for m in accepted["made"]])
    for row in accepted.sort_values(["flagged", "g"], ascending=[True, False]).head(EXAMPLES).to_dict("records"):
        st.markdown(f"   - “{escape_markdown(str(row[text_column]))}” · written for feature **{int(row['feature'])}**,"
                    f" g = {float(row['g']):.2f}")
    page_link(pages.review, "Review more candidates", icon=":material/rate_review:")


def evaluation_step() -> None:
    """Step 5: the latest saved evaluation's scores, when there is one."""
    name = latest_evaluation(state.workspace_root(), anchor=DEMO_ANCHOR)
    if name is None:
        return
    result = load_evaluation(state.workspace_root(), name)
    st.markdown(f"5. **Did it help?** The latest evaluation against {DEMO_ANCHOR} *{escape_markdown(name)}* trains a "
                "probe per set and "
                f"scores it on *{escape_markdown(result.test)}*:")
    table = evaluation_table(result)[["set", "n_train", "fac", "auprc", "auprc_std"]]
    st.dataframe(table, hide_index=True, column_config=column_config(table.columns))
    page_link(app_pages().evaluation, "Open the evaluation and the report", icon=":material/monitoring:")
