"""Plotly figure builders (pure functions: data in, figure out), shared by the dashboard and the HTML report."""
