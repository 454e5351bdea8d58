"""Reporting for pipeline runs. Import from the modules:

- ``common.report.html``: ``write_run_report`` (one self-contained HTML file per run folder)
- ``common.report.gallery``: ``GalleryItem``, ``worst_items`` (the worst out-of-fold predictions)
- ``common.report.scoreboard``: a table of several runs' ``summary.json`` (text, Markdown, CSV)
- ``common.report.plots``: the matplotlib (Agg) figures; ``common.report.run_files``: the run-folder reader
"""
