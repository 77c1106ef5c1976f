"""Report portal for bureau, township and school staff: find and download the reports of kongchuo.

Starlette app (``portal.app:app``) over ``$KONGCHUO_HOME/reports/<period>/``; users and roles from a TOML file;
every login and download written to ``portal.audit`` in the warehouse. See the README, section Portal.
"""
