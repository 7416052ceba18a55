"""The stylesheet a notebook front end (JupyterLab, VS Code) gets with the brief's own outputs;
the exports use the templates' stylesheets instead."""

from __future__ import annotations

__all__ = ["NOTEBOOK_CSS", "notebook_html"]

NOTEBOOK_CSS = """
.cr-nb { font-family: 'DejaVu Sans', system-ui, sans-serif; }
.cr-nb .key-figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(12rem, 1fr)); gap: .6rem; }
.cr-nb .kf { border-top: 3px solid #0072B2; background: #f3f6f9; padding: .5rem .7rem .6rem; }
.cr-nb .kf-value { font-size: 1.35rem; font-weight: 700; color: #0072B2; line-height: 1.2; }
.cr-nb .kf-label { font-size: .85rem; margin-top: .2rem; }
.cr-nb .kf-src { font-size: .72rem; color: #666; margin-top: .25rem; }
.cr-nb table { border-collapse: collapse; font-size: .85rem; }
.cr-nb caption { caption-side: top; text-align: left; font-weight: 700; padding: .3rem 0; }
.cr-nb th, .cr-nb td { border: none; border-bottom: 1px solid #e3e3e3; padding: .25rem .5rem; vertical-align: top; }
.cr-nb thead th { border-bottom: 2px solid #555; }
.cr-nb .source-note { font-size: .75rem; color: #666; margin-top: .3rem; }
.cr-nb .references ol { font-size: .8rem; }
.cr-nb .figure-title { font-weight: 700; margin: .4rem 0 0; }
.cr-nb .alt-text { font-size: .75rem; color: #555; margin-top: .2rem; }
.cr-nb details { font-size: .8rem; margin-top: .3rem; }
""".strip()


def notebook_html(markup: str) -> str:
    """``markup`` with the notebook stylesheet, for a front end's ``text/html``."""
    return f'<div class="cr-nb"><style>{NOTEBOOK_CSS}</style>{markup}</div>'
