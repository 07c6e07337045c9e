"""What app.py draws around every page: the workspace and project picker in the sidebar, and links
that open a feature (`?feature=N&project=P`, checked before anything follows them)."""

import re
from pathlib import Path

import streamlit as st

from fac_app import state
from fac_app.markup import escape_inline, quoted
from fac_engine.errors import FacError
from fac_engine.workspace import Project, Workspace, check_name

FEATURE_ID = re.compile(r"[0-9]{1,9}")
"""What a feature id in a link may look like (int() would also take '+5', ' 5' or '5_0')."""


def project_picker() -> Project:
    """Sidebar: the workspace folder and the project (pick or create); returns the current project."""
    root = state.workspace_root()

    def set_root() -> None:
        state.set_workspace(Path(st.session_state["home_workspace"]).expanduser())

    st.sidebar.text_input("Workspace folder", value=str(root), key="home_workspace", on_change=set_root,
                          help="Where encoded datasets and projects live ($FAC_WORKSPACE by default).")
    current = state.project()
    names = sorted(set(Project.names(root)) | {current.name})

    def pick() -> None:
        state.set_project(st.session_state["home_project"])

    st.session_state["home_project"] = current.name  # follows the current project (links and new projects set it)
    st.sidebar.selectbox("Project", names, key="home_project", on_change=pick,
                         help="A project remembers its model, SAE, anchor, seed, threshold and feature lists.")
    with st.sidebar.popover("New project", icon=":material/add:", width="stretch"):
        new = st.text_input("Name", key="home_new_project", placeholder="toxicity-v2")
        if st.button("Create", key="home_create_project", type="primary"):
            try:
                cfg = current.config
                Project(root, check_name(new.strip())).update(model=cfg.model, sae=cfg.sae, layer=cfg.layer)
                state.set_project(new.strip())
                st.rerun()
            except FacError as exc:
                state.show_error(exc)
    return state.project()


def _feature_count(root: Path, project: str) -> int | None:
    """Features of the SAE the project's anchor was encoded with (else of any encoded dataset); None without one."""
    workspace = Workspace(root)
    anchor = Project(root, project).config.anchor
    names = [anchor] if anchor in workspace.names() else workspace.names()
    counts = [m.d_sae for n in names if (m := workspace.manifest(str(n))) is not None]
    return max(counts) if counts else None


def link_problem(raw: str, project: str | None, root: Path) -> str | None:
    """Why a `?feature=RAW&project=PROJECT` link cannot be followed (None when it can)."""
    if project is not None and project not in Project.names(root):
        return "there is no such project"
    if not FEATURE_ID.fullmatch(raw):
        return "a feature id is a whole number"
    count = _feature_count(root, project or state.project().name)
    if count is not None and int(raw) >= count:
        return f"feature ids run from 0 to {count - 1:,}"
    return None


def open_deep_link(explorer: st.Page) -> None:
    """`?feature=N[&project=P]` switches to the explorer on feature N of project P; a bad link is ignored
    with a plain-text line. Table links open in a new browser tab, which is a new session: the link
    carries what it needs."""
    params = st.query_params
    if "feature" not in params:
        return
    raw, name = params.get("feature", ""), params.get("project")
    st.query_params.clear()
    problem = link_problem(raw, name, state.workspace_root())
    if problem is not None:
        what = f"Ignored a link to feature {quoted(raw)}" + ("" if name is None else f" of project {quoted(name)}")
        st.warning(f"{what}: {escape_inline(problem)}.")
        return
    if name is not None:
        state.set_project(name)
    state.remember_feature(int(raw))
    st.switch_page(explorer)

