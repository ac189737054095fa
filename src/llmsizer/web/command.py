"""`llmsizer app`: serve the web app with Streamlit on this machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

APP = Path(__file__).with_name("app.py")


@click.command()
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 makes the app reachable from other machines).")
def app(port, host):
    """Serve the web app: estimate, compare, study and validation pages in a browser."""
    try:
        import plotly  # noqa: F401
        import streamlit  # noqa: F401
    except ImportError as exc:
        raise click.ClickException(f"the web app needs {exc.name}: pip install 'llmsizer[web]'") from None
    click.echo(f"llmsizer app on http://{host}:{port} (Ctrl-C stops it)")
    sys.exit(subprocess.call([sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
                              "--server.port", str(port), "--server.address", host,
                              "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]))
