"""One module per part of the brief: the charts, tables and computed prose of that part.

=============  ==============================================================
``frontend``   bottom line, key judgements, implications, scenarios (dated analyst records)
``facts``      the computed facts analyst text cites as placeholders (``{members}`` ...)
``summary``    cover dateline, key figures, executive summary, data coverage
``changes``    what changed since the previous build (snapshot against snapshot)
``membership`` map of roles, members table, participation, attendance, meetings
``aid``        top donors, donor groups, monthly aid, share of GDP, announcements
``positions``  stance matrix, quotes, positions, timeline, events
``statements`` dated statements with their sentence of context, newest first
``article``    the founding article, fact by fact
``outlook``    the analysts' dated outlook (newest written by the as-of date)
``methods``    definitions, coverage, Kiel's method, exchange rates, build info, references
``profile``    one state's profile
``forces``     force generation: pledges by state, published estimates of need
``opinion``    public opinion: polls on sending troops and on aid
``context``    US backstop, Russia's position, approvals, financing, the EU's role
=============  ==============================================================

Every function takes the dataset first and, as keyword arguments with house defaults, what an
analyst would change: colours (a mapping from :func:`coalition_report.style.palette`), sort
order, top-n, titles. The notebooks call them through ``coalition_report.brief``.
"""

from . import (aid, article, changes, context, facts, forces, frontend, membership, methods, opinion, outlook,
               positions, profile, statements, summary)

__all__ = ["aid", "article", "changes", "context", "facts", "forces", "frontend", "membership", "methods", "opinion",
           "outlook", "positions", "profile", "statements", "summary"]
