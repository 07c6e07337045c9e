"""The home page's encoding panel: upload or point at a data file, start `fac encode` in the background
(the workspace's job runner), follow its progress, show why it failed, and give a new dataset an empty role."""

import re
from pathlib import Path

import streamlit as st

from fac_app import state
from fac_app.markup import escape_inline
from fac_engine.data import SUFFIXES
from fac_engine.errors import FacError
from fac_engine.workspace import (
    JobStatus,
    Project,
    ProjectConfig,
    check_name,
    forget_job,
    list_jobs,
    start_encode_job,
    stop_job,
)

UPLOADS_DIR = ".uploads"
"""Uploaded data files are kept in `<workspace>/.uploads/<dataset name><suffix>`."""
SEEN_KEY = "fac_home_jobs_seen"
"""Jobs this session saw running: when one finishes, the page says so once."""


def safe_upload_name(name: str, filename: str) -> str:
    """`<dataset name><suffix of the uploaded file>`, refusing file types the reader does not know."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIXES:
        raise FacError(f"{filename}: unsupported file type {suffix or '(none)'!r}; upload one of "
                       f"{', '.join(SUFFIXES)}.")
    return check_name(name) + suffix


def suggested_name(filename: str) -> str:
    """A dataset name from a file name: its stem with odd characters replaced by '-'."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(filename).stem).strip("-.") or "dataset"
    return stem[:64]


def encode_options(cfg: ProjectConfig, *, text_field: str, label_field: str, schema: str, limit: int,
                   chat: bool, max_length: int, overwrite: bool) -> list[str]:
    """The `fac encode` options for the project's model and SAE and the form's choices."""
    options = ["--model", cfg.model, "--sae", cfg.sae, "--schema", schema, "--max-length", str(int(max_length))]
    if cfg.layer is not None:
        options += ["--layer", str(cfg.layer)]
    if text_field.strip():
        options += ["--text-field", text_field.strip()]
    if label_field.strip():
        options += ["--label-field", label_field.strip()]
    if limit > 0:
        options += ["--limit", str(int(limit))]
    if not chat:
        options.append("--plain")
    if overwrite:
        options.append("--overwrite")
    return options


def encode_form(proj: Project) -> None:
    """Upload or point at a data file and start `fac encode` in the background."""
    root = state.workspace_root()
    source = st.radio("Data", ["upload", "path"], horizontal=True, key="enc_source",
                      format_func=lambda s: {"upload": "Upload a file", "path": "A file or folder on this machine"}[s])
    upload = path_text = None
    if source == "upload":
        upload = st.file_uploader("Data file", type=[s.lstrip(".") for s in SUFFIXES], key="enc_upload",
                                  help="JSONL, JSON, CSV/TSV, Parquet, Arrow or text lines.")
    else:
        path_text = st.text_input("Path", key="enc_path", placeholder="/data/my_set.jsonl")
    filename = upload.name if upload is not None else (path_text or "")
    c1, c2, c3, c4 = st.columns(4)
    name = c1.text_input("Dataset name", key="enc_name", placeholder=suggested_name(filename) if filename else "",
                         help="Letters, digits, '-', '_' and '.'; left empty: from the file name.")
    schema = c2.selectbox("Schema", ["auto", "text", "chat", "instruction", "preference"], key="enc_schema",
                          help="How rows become samples; auto detects it from the column names.")
    text_field = c3.text_input("Text field", key="enc_text_field", placeholder="detected",
                               help="The column holding the text (plain-text schema).")
    label_field = c4.text_input("Label field", key="enc_label_field", placeholder="none",
                                help="A class or score column (e.g. toxic / safe): enables label slices.")
    c5, c6, c7, c8 = st.columns(4)
    limit = c5.number_input("Only the first N rows (0 = all)", min_value=0, value=0, step=100, key="enc_limit")
    max_length = c6.number_input("Max tokens per sample", min_value=8, value=512, step=64, key="enc_max_length")
    chat = c7.toggle("Chat template", value=True, key="enc_chat",
                     help="Wrap each sample as a user turn (the paper's setting); t0 skips the template.")
    overwrite = c8.toggle("Replace a dataset of this name", value=False, key="enc_overwrite")
    if st.button("Start encoding", type="primary", key="enc_start", icon=":material/play_arrow:"):
        try:
            name = check_name(name.strip() or suggested_name(filename))
            if any(j.name == name and j.state == "running" for j in list_jobs(root, "encode")):
                raise FacError(f"A job is already encoding {name!r}.")
            if upload is not None:
                folder = root / UPLOADS_DIR
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / safe_upload_name(name, upload.name)
                target.write_bytes(upload.getvalue())
            elif path_text and path_text.strip():
                target = Path(path_text.strip()).expanduser()
                if not target.exists():
                    raise FacError(f"No such file or folder: {target}")
            else:
                raise FacError("Upload a file or give a path first.")
            if proj.config.model != "embedded" and not Path(proj.config.model).expanduser().exists():
                raise FacError(f"The project's model {proj.config.model} does not exist; set it under *Model and SAE*.")
            if not Path(proj.config.sae).expanduser().exists():
                raise FacError(f"The project's SAE {proj.config.sae} does not exist; set it under *Model and SAE*.")
            options = encode_options(proj.config, text_field=text_field, label_field=label_field, schema=schema,
                                     limit=int(limit), chat=chat, max_length=int(max_length), overwrite=overwrite)
            start_encode_job(root, target, name, options)
            st.session_state.setdefault(SEEN_KEY, set()).add(name)
            st.rerun()
        except FacError as exc:
            state.show_error(exc)


def _job_row(root: Path, job: JobStatus) -> None:
    if job.state == "running":
        text = (f"**{escape_inline(job.name)}**: {job.done:,} / {job.total:,} {escape_inline(job.unit)}"
                + (f" · {job.rate:,.0f} {escape_inline(job.rate_unit)}" if job.rate else "")
                if job.total else f"**{escape_inline(job.name)}**: starting (loading the model and reading the "
                "data)...")
        left, right = st.columns([6, 1], vertical_alignment="bottom")
        left.progress(job.fraction, text=text)
        if right.button("Cancel", key=f"job_cancel_{job.name}"):
            stop_job(root, job.name)
            st.rerun()
    elif job.state in ("failed", "stopped"):
        left, right = st.columns([6, 1], vertical_alignment="center")
        alert = left.error if job.state == "failed" else left.warning
        alert(f"Encoding **{escape_inline(job.name)}** {job.state}: "
              f"{escape_inline(job.message or 'the process stopped without a message')}")
        if right.button("Dismiss", key=f"job_dismiss_{job.name}"):
            forget_job(root, job.name)
            st.rerun()


def _give_role(name: str) -> str:
    """Make a freshly encoded dataset the anchor, or else the seed, while the project lacks one; says which."""
    proj = state.project()
    cfg, names = proj.config, state.dataset_names()
    if name not in names:
        return ""
    if cfg.anchor not in names:
        proj.update(anchor=name)
        return " It is now the project's anchor."
    if cfg.seed not in names and name != cfg.anchor:
        proj.update(seed=name)
        return " It is now the project's seed."
    return ""


def announce_finished() -> None:
    """A line for each job this session saw running that has finished; a new dataset fills an empty role."""
    seen: set[str] = st.session_state.setdefault(SEEN_KEY, set())
    for job in list_jobs(state.workspace_root(), "encode"):
        if job.state == "done" and job.name in seen:
            seen.discard(job.name)
            st.success(f"Encoded **{escape_inline(job.name)}** ({job.n_samples:,} samples)." + _give_role(job.name))


def jobs_panel() -> None:
    """Running and failed encode jobs, polled every second while one runs (a reload finds them again)."""
    root = state.workspace_root()
    seen: set[str] = st.session_state.setdefault(SEEN_KEY, set())
    running = any(j.state == "running" for j in list_jobs(root, "encode"))

    @st.fragment(run_every=1.0 if running else None)
    def poll() -> None:
        now = list_jobs(root, "encode")
        for job in now:
            _job_row(root, job)
        seen.update(j.name for j in now if j.state == "running")
        if running and not any(j.state == "running" for j in now):
            st.rerun()  # the whole page: the new dataset appears in the table and the role pickers

    poll()
