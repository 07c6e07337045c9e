"""Cross-model: features of one model's SAE matched with another's over a bridge corpus (`fac match`), both
explanations side by side, a feature list carried into the other space, and FAC's agreement across the two."""

import shlex

import streamlit as st

from fac_app import crossmodel_data as data
from fac_app import state
from fac_app.markup import escape_inline
from fac_engine.crossmodel import CONFIDENT, FeatureMap, map_names, transfer_features, write_transfer
from fac_engine.errors import FacError
from fac_engine.figures import agreement_table, cka_figure, confidence_histogram, fac_agreement_figure, pairs_table
from fac_engine.workspace import Project

NONE = "(none)"  # the project picker's choice of no project

st.title("Cross-model")
st.caption("Which features of one model's SAE are features of another's? Both read the same samples, so a "
           "feature of space A and one of space B are matched when their activations rise and fall together "
           "over a bridge corpus, against a null of shuffled samples.")


def map_summary(fmap: FeatureMap) -> None:
    """Both spaces, the bridge and the headline counts."""
    bridge = ", ".join(f"{p.a} = {p.b}" for p in fmap.bridge)
    st.caption(f"**A** {escape_inline(fmap.space_a.label())} · **B** {escape_inline(fmap.space_b.label())} · "
               f"bridge {escape_inline(bridge)}: {fmap.n_samples:,} samples (hash `{fmap.bridge_hash[:12]}`) · "
               f"top {fmap.config.top}, {fmap.config.shuffles} shuffles, null quantile {fmap.config.null_quantile:g}"
               f" · {escape_inline(fmap.created)}")
    best = fmap.pairs.best()
    cols = st.columns(4)
    cols[0].metric("Features of A on the bridge", f"{int((fmap.count_a > 0).sum()):,}")
    cols[1].metric("With a candidate in B", f"{len(best):,}")
    cols[2].metric(f"Confident (≥ {CONFIDENT:g})", f"{int((best.confidence >= CONFIDENT).sum()):,}")
    cols[3].metric("Mutual nearest neighbours", f"{int(best.mutual.sum()):,}")


def project_pickers(fmap: FeatureMap) -> tuple[str | None, str | None]:
    """The projects whose explanations are shown for A and for B (guessed from their anchors' SAEs)."""
    names = data.projects()
    options = [NONE, *names]
    chosen = []
    for side, space, column in zip("ab", (fmap.space_a, fmap.space_b), st.columns(2), strict=True):
        key = f"cross_project_{side}"
        if key not in st.session_state or st.session_state[key] not in options:
            st.session_state[key] = data.project_in_space(space, names) or NONE
        value = column.selectbox(f"Explanations of {side.upper()} from project", options, key=key,
                                 help=f"A project working in {escape_inline(space.model)} (its anchor was encoded "
                                      "with that SAE).")
        chosen.append(None if value == NONE else str(value))
    return chosen[0], chosen[1]


def pairs_section(fmap: FeatureMap, project_a: str | None, project_b: str | None) -> float:
    """The filters and the table of pairs; returns the chosen confidence."""
    c1, c2, c3 = st.columns([3, 2, 2])
    min_conf = c1.slider("Min confidence", 0.0, 1.0, CONFIDENT, 0.05, key="cross_min_confidence")
    mutual = c2.toggle("Mutual pairs only", key="cross_mutual")
    every = c3.toggle("Every candidate (not only the best)", key="cross_every")
    table = pairs_table(fmap, data.explanations(project_a), data.explanations(project_b), min_conf, mutual, not every)
    st.dataframe(table, hide_index=True, width="stretch", key="cross_pairs", column_config={
        "feature_a": st.column_config.NumberColumn("feature A"),
        "explanation_a": st.column_config.TextColumn("explanation in A", width="medium"),
        "feature_b": st.column_config.NumberColumn("feature B"),
        "explanation_b": st.column_config.TextColumn("explanation in B", width="medium"),
        "confidence": st.column_config.ProgressColumn("confidence", min_value=0.0, max_value=1.0, format="%.3f"),
        "pearson": st.column_config.NumberColumn("Pearson r", format="%.3f"),
        "jaccard": st.column_config.NumberColumn("Jaccard", format="%.3f"),
        "support": st.column_config.NumberColumn("co-firing samples"),
        "margin": st.column_config.NumberColumn("lead over runner-up", format="%.3f"),
        "null": st.column_config.NumberColumn("null r", format="%.3f"),
        "mutual": st.column_config.CheckboxColumn("mutual"),
        "assigned": st.column_config.CheckboxColumn("1:1"),
        "rank": st.column_config.NumberColumn("rank")})
    st.caption(f"{len(table):,} pairs shown. Confidence = above-null share × distinctness × support: "
               "(r − null) / (1 − null), the lead over the runner-up against the margin scale, and the co-firing "
               "samples against the minimum support, each capped at 1.")
    st.plotly_chart(confidence_histogram(fmap), key="cross_confidence")
    return min_conf


def transfer_section(fmap: FeatureMap, project_a: str | None, project_b: str | None, min_conf: float) -> None:
    """Carry a feature list of A's project into B's project through the map."""
    st.subheader("Carry a feature list into B")
    if project_a is None or project_b is None:
        st.caption("Pick the projects of A and of B above to carry one of A's feature lists across.")
        return
    lists = Project(state.workspace_root(), project_a).list_names()
    if not lists:
        st.caption("A's project has no feature list yet (save one on the Missing features page).")
        return
    chosen = str(st.selectbox("Feature list of A", lists, key="cross_list"))
    result = transfer_features(fmap, Project(state.workspace_root(), project_a).features_in(chosen), min_conf)
    groups = (("Mapped", result.mapped), ("Ambiguous (many-to-one)", result.ambiguous))
    cols = st.columns(3)
    for column, (title, rows) in zip(cols, groups, strict=False):
        column.markdown(f"**{title}** ({len(rows):,})")
        column.dataframe([{"feature A": m.feature_a, "feature B": m.feature_b, "confidence": round(m.confidence, 3)}
                          for m in rows], hide_index=True, width="stretch")
    cols[2].markdown(f"**Unmapped, possibly only in A** ({len(result.unmapped):,})")
    cols[2].dataframe([{"feature A": u.feature_a, "why": u.reason} for u in result.unmapped], hide_index=True,
                      width="stretch")
    name = st.text_input("List name in B's project", value=f"from-{fmap.name}", key="cross_list_name")
    with_ambiguous = st.checkbox("Include ambiguous counterparts", key="cross_with_ambiguous")
    if st.button("Write the list", key="cross_write", icon=":material/playlist_add:"):
        written = write_transfer(Project(state.workspace_root(), project_b), name, result, with_ambiguous)
        st.success(f"Wrote {len(written):,} features to the list {escape_inline(name)} of project "
                   f"{escape_inline(project_b)}.")


def agreement_section(fmap: FeatureMap) -> None:
    """FAC in both spaces side by side and the agreement figures, or the command that measures them."""
    st.subheader("Does FAC agree across the two models?")
    result = data.agreement(fmap.name)
    if result is None:
        first = fmap.bridge[0]
        st.caption("Measure FAC of the same datasets in both spaces (each encoded with both models) from a terminal:")
        st.code(f"fac match agreement --map {shlex.quote(fmap.name)} --anchor {shlex.quote(f'{first.a}={first.b}')} "
                "--seeds SEED_A=SEED_B,OTHER_A=OTHER_B", language="bash")
        return
    cols = st.columns(4)
    cols[0].metric("Spearman r of FAC", "n/a" if result.spearman is None else f"{result.spearman:.3f}")
    cols[1].metric("Cohen's kappa, covered / missing", "n/a" if result.pooled.kappa is None
                   else f"{result.pooled.kappa:.3f}")
    cols[2].metric("A features with a counterpart", "n/a" if result.share_a is None else f"{result.share_a:.1%}")
    cols[3].metric("CKA of decoder directions", "n/a" if result.cka is None else f"{result.cka.cka:.3f}")
    left, right = st.columns([3, 2])
    left.plotly_chart(fac_agreement_figure(result), key="cross_fac_figure")
    if result.cka is not None:
        right.plotly_chart(cka_figure(result.cka), key="cross_cka_figure")
    st.dataframe(agreement_table(result), hide_index=True, width="stretch", key="cross_agreement", column_config={
        "dataset_a": st.column_config.TextColumn("dataset in A"),
        "dataset_b": st.column_config.TextColumn("dataset in B"),
        "fac_a": st.column_config.NumberColumn("FAC in A", format="percent"),
        "fac_b": st.column_config.NumberColumn("FAC in B", format="percent"),
        "pairs": st.column_config.NumberColumn("confident pairs compared"),
        "agreement": st.column_config.NumberColumn("agreement", format="%.3f"),
        "kappa": st.column_config.NumberColumn("kappa", format="%.3f")})
    st.caption(f"Pairs: {result.config.pairs} at confidence ≥ {result.config.min_confidence:g}, δ = "
               f"{result.config.threshold:g}; {result.confident_a:,} of {result.active_a:,} bridge features of A and "
               f"{result.confident_b:,} of {result.active_b:,} of B have a confident counterpart · "
               f"{escape_inline(result.created)}")


def main() -> None:
    names = map_names(state.workspace_root())
    if not names:
        st.info("No feature map in this workspace yet. Encode one dataset (e.g. the anchor) with both models, then "
                "match the two SAEs over it from a terminal:")
        st.code("fac encode anchor.jsonl --name anchor-b --model OTHER_MODEL --sae OTHER_SAE\n"
                "fac match --from anchor --to anchor-b --bridge anchor=anchor-b --out anchor-to-b", language="bash")
        return
    chosen = str(st.selectbox("Feature map", names, key="cross_map"))
    try:
        fmap = data.feature_map(chosen)
        map_summary(fmap)
        project_a, project_b = project_pickers(fmap)
        min_conf = pairs_section(fmap, project_a, project_b)
        transfer_section(fmap, project_a, project_b, min_conf)
        agreement_section(fmap)
    except FacError as exc:
        state.show_error(exc)


main()
