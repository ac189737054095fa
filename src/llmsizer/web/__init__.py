"""The web app (`llmsizer app`): estimate, compare, study and validation pages over the Python API.

Streamlit and plotly load only here (the `web` extra), never from the rest of the package.
"""
