"""The guided tour of the demo project on the home page: what the demo data is, what the seed misses,
what those features mean. Shown only when the project's anchor and seed are the demo's."""

import numpy as np
import streamlit as st

from fac_app import state
from fac_app.components import MISSING_PAGE, page_link
from fac_app.feature_markup import escape_markdown
from fac_engine.project import Project

DEMO_ANCHOR, DEMO_SEED = "demo-anchor", "demo-seed"
"""Names `fac demo` gives the demo datasets."""
SHOWN = 5
"""Missing features listed in the tour."""


def is_demo(proj: Project) -> bool:
    """Whether the project looks at the demo anchor and seed."""
    cfg = proj.config
    return (cfg.anchor, cfg.seed) == (DEMO_ANCHOR, DEMO_SEED)


def demo_tour(proj: Project, delta: float) -> None:
    """Four short steps with live numbers and links."""
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
        st.markdown("4. **Next.** Pick the missing features to fill on the *Missing features* page; synthesis of "
                    "samples that activate them comes with the synthesis pages (not built yet).")
        page_link(MISSING_PAGE, "Review the missing features", icon=":material/checklist:")
