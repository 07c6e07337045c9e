"""Streamlit-side helpers: cached resources, session keys, figure builders, small components."""
