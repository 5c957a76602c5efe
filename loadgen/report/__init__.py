"""The comparison report: Markdown, self-contained HTML and PNG plots, rebuilt from saved runs."""
