"""Streamlit-side helpers: the page declarations, cached resources, session keys, the one way to show untrusted
text, and the components and views the pages are drawn from."""
