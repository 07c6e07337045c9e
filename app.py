"""FAC Studio, the frame around every page: page config, the navigation over the pages declared in
fac_app/navigation.py, the project picker, links that open a feature, and the error boundary."""

import streamlit as st

from fac_app import frame, state
from fac_app.navigation import app_pages
from fac_engine.errors import FacError

# The app's icon before the navigation's: a page's material icon as the tab's icon is fetched from fonts.gstatic.com.
st.set_page_config(page_title="FAC Studio", page_icon="🧭", layout="wide")
pages = app_pages()
page = st.navigation(list(pages))
st.set_page_config(page_title=f"{page.title} · FAC Studio")
frame.open_deep_link(pages.explorer)
frame.project_picker()
try:
    page.run()
except FacError as exc:  # a user error a page did not catch: one red line, never a traceback
    state.show_error(exc)
