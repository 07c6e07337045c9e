"""Evaluation: saved downstream evaluations (`fac evaluate`) as a table, AUPRC against FAC (the paper's
figure 3) with the text-diversity baselines beside it, per-category recall and AUPRC (sets x test
categories), the real headroom arm marked as such, and the stakeholder report to download."""

import shlex

import streamlit as st

from fac_app import evaluation_data as data
from fac_app import state
from fac_app.columns import column_config
from fac_app.markup import escape_inline, inline_code, quoted
from fac_engine.errors import FacError
from fac_engine.evaluation import CalibrationResult, EvalResult, calibration_names, evaluation_names
from fac_engine.figures import (
    CATEGORY_METRICS,
    calibration_figure,
    calibration_table,
    category_heatmap,
    category_table,
    correlation_choices,
    correlation_table,
    diversity_figure,
    evaluation_table,
    fac_auprc_figure,
    r_text,
)
from fac_engine.report import evaluate_command, latest_evaluation

st.title("Evaluation")
st.caption("Does more coverage train a better model? A linear probe per training set, scored on a held-out test "
           "set, next to each set's FAC and text diversity.")


def pick_evaluation(names: list[str]) -> str:
    """The evaluation shown (the latest saved by default)."""
    latest = latest_evaluation(state.workspace_root())
    return str(st.selectbox("Saved evaluation", names, index=names.index(latest) if latest in names else 0,
                            key="eval_name"))


def results_section(result: EvalResult) -> None:
    """The table, AUPRC against FAC and the diversity baselines."""
    cfg = result.config
    st.caption(f"{escape_inline(cfg.features)} features · test **{escape_inline(result.test)}** ({result.n_test:,} "
               f"rows, {result.n_test_positive:,} {quoted(cfg.positive)}) · FAC against "
               f"**{escape_inline(result.anchor)}** at δ = {cfg.fac_threshold:g} · {len(cfg.seeds)} seeds · model "
               f"{inline_code(result.model)} · SAE {inline_code(result.sae)} (layer {result.layer}) · "
               f"{escape_inline(result.created)}")
    table = evaluation_table(result)
    st.dataframe(table, hide_index=True, width="stretch", column_config=column_config(
        table.columns, set=st.column_config.TextColumn("set"),
        real=st.column_config.CheckboxColumn("real rows", help="the headroom arm: real anchor rows, an upper "
                                             "reference, not synthetic data")))
    headroom_note(result)
    st.plotly_chart(fac_auprc_figure(result), key="eval_fac_auprc")
    st.caption(f"{r_text(result.pearson_fac_auprc, len(result.sets))}. Error bars: standard deviation over the "
               "seeds. The paper finds r = 0.95 between FAC and AUPRC on toxicity detection.")
    if result.categories:
        category_section(result)
    st.subheader("Text diversity does not have to track quality")
    left, right = st.columns([3, 1])
    left.plotly_chart(diversity_figure(result), key="eval_diversity")
    right.dataframe(correlation_table(result), hide_index=True, width="stretch", column_config={
        "pearson_r": st.column_config.NumberColumn("Pearson r with AUPRC", format="%.3f"),
        "paper_r": st.column_config.NumberColumn("paper", format="%.2f")})


def headroom_note(result: EvalResult) -> None:
    """What the real headroom arm is, when the evaluation has one (an open diamond in the figure)."""
    for s in result.sets:
        if s.headroom is not None:
            h = s.headroom
            st.info(f"**{escape_inline(s.name)}** is **{escape_inline(h.base)}** plus {len(h.rows):,} real rows of "
                    f"{escape_inline(result.anchor)} that no training set holds, picked to cover {h.covered:,} of the "
                    f"{h.n_missing:,} features {escape_inline(h.base)} misses: real data, an upper reference for what "
                    "synthesis could reach, not a synthesis result (an open diamond below).",
                    icon=":material/straighten:")


def category_section(result: EvalResult) -> None:
    """Sets x test categories: which kinds of positive rows each set's probe catches and which it misses."""
    st.subheader("Which kinds of positives each set catches")
    metric = st.radio("Per-category metric", list(CATEGORY_METRICS), format_func=CATEGORY_METRICS.__getitem__,
                      horizontal=True, key="eval_category_metric")
    st.plotly_chart(category_heatmap(result, metric), key="eval_category_heatmap")
    st.caption(f"Each column is a {escape_inline(str(result.config.category))} of the test set's "
               f"{quoted(result.config.positive)} rows (their number in brackets); mean ± std over the seeds. Recall "
               f"counts the rows scored at or above the decision threshold {result.config.threshold:g}; AUPRC ranks "
               "the category's rows among all negative rows. A low cell in the seed's row that is high in a "
               "synthesis row is a gap the synthesis repaired.")
    categories = category_table(result)
    st.dataframe(categories, hide_index=True, width="stretch", column_config=column_config(categories.columns))


def calibration_section(anchor: str | None, seed: str | None) -> None:
    """Should FAC be trusted on this task? The latest `fac calibrate` run, or the command to make one."""
    st.subheader("Calibration: does FAC predict AUPRC on this task?")
    names = calibration_names(state.workspace_root())
    if not names:
        st.caption("Before synthesising, check that covering the missing features helps here: held-out real anchor "
                   "rows that cover them (or not) are added to the seed and scored on the test set. From a terminal:")
        st.code(f"fac calibrate --anchor {shlex.quote(anchor or 'ANCHOR')} --seed {shlex.quote(seed or 'SEED')} "
                "--test TEST --relevant relevant.txt --category category", language="bash")
        return
    chosen = str(st.selectbox("Saved calibration", names, key="eval_calibration"))
    result: CalibrationResult = data.calibration(chosen)
    best = result.default
    tracks = best is not None and best.pearson is not None and best.pearson >= 0.7
    (st.success if tracks else st.warning)(result.verdict())
    st.caption(f"{result.n_holdout:,} {result.config.positive!r} rows of {result.anchor} held out, "
               f"{result.n_reference:,} kept as FAC's reference · seed {result.seed} misses {result.n_missing:,} "
               f"features · test {result.test} · {result.config.features} features · {len(result.config.seeds)} "
               f"seeds · {result.created}")
    left, right = st.columns([3, 2])
    left.plotly_chart(calibration_figure(result), key="eval_calibration_figure")
    choices = correlation_choices(result)
    right.dataframe(choices, hide_index=True, width="stretch", column_config=column_config(choices.columns))
    table = calibration_table(result)
    st.dataframe(table, hide_index=True, width="stretch", column_config=column_config(
        table.columns, covers=st.column_config.NumberColumn("missing features covered")))


def report_section(project: str, evaluation: str | None) -> None:
    """Write the stakeholder report on demand and offer it as a download."""
    st.subheader("Stakeholder report")
    st.caption("One HTML file that opens offline in any browser: FAC before and after the accepted synthetic "
               "samples, the coverage heatmap, the missing features with their explanations, example samples, "
               "this evaluation and every setting behind the numbers.")
    if st.button("Write report", key="eval_write_report", icon=":material/description:"):
        with st.spinner("Writing the report..."):
            data.write_report(project, evaluation)
    built = data.written_report(project, evaluation)
    if built is not None:
        st.download_button("Download report", built, file_name=f"fac-report-{project}.html", mime="text/html",
                           key="eval_download_report", icon=":material/download:", on_click="ignore")
    command = f"fac report --project {shlex.quote(project)} --out report.html --png-dir report-figures"
    st.caption("From a terminal (also writes each figure as a PNG):")
    st.code(command + ("" if evaluation is None else f" --evaluation {shlex.quote(evaluation)}"), language="bash")


def main() -> None:
    proj = state.project()
    names = evaluation_names(state.workspace_root())
    chosen: str | None = None
    try:
        if not names:
            st.info("No saved evaluation in this workspace yet. Export the accepted synthetic samples merged with "
                    "the seed, encode them, and evaluate both sets from a terminal (pick your test dataset):")
            st.code(evaluate_command(state.workspace_root(), proj.config), language="bash")
        else:
            chosen = pick_evaluation(names)
            results_section(data.evaluation(chosen))
        calibration_section(proj.config.anchor, proj.config.seed)
        report_section(proj.name, chosen)
    except FacError as exc:
        state.show_error(exc)


main()
