"""The search page for engineers: Jinja2 templates and static files, no build step."""
