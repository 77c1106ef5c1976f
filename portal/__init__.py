"""Report portal for bureau, township and school staff (and auditors): find and download the reports of kongchuo.

Starlette app (``portal.app:app``, run with ``python -m portal``) over ``$KONGCHUO_HOME/reports/<period>/``,
serving only the files the period's manifest lists; users and roles from a TOML file, scoped by codes; 追溯
pages from a number to its cases; every login, logout, download and 追溯 view written to ``portal.audit`` in the
warehouse. See the README, section Portal.
"""
