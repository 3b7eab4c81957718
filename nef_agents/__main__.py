"""``python -m nef_agents`` runs the ``nef`` command."""

from nef_agents.cli import app

app(prog_name="nef")
