"""Global asset policies, applied once in :mod:`pipelines.definitions` to every asset.

- group, owners and kinds: defaults where an asset left them out (group from the key's first part);
- ``code_version``: the declared version plus a fingerprint of the rule SQL the asset runs: the ``.sql`` files its
  module names in ``SQL_FILES`` (:func:`warehouse.sql.fingerprint`), the statements its module holds (rendered
  from those files with their Python parts; a module whose SQL is not in files yet, like the report modules,
  has only these) and the rule thresholds when it takes :class:`RuleConfig`, so a changed rule makes the asset
  and everything downstream stale in Dagster without anyone bumping a number;
- ``dagster/column_schema``, ``dagster/table_name`` and ``dagster/column_lineage`` from :mod:`pipelines.lineage`;
- dependencies: an upstream asset named in an asset's column lineage is a dependency (its SQL reads it).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from types import ModuleType
from typing import Iterable

import dagster as dg

from assets.common import OWNERS
from pipelines import lineage
from warehouse import sql as sql_files

GROUPS = ("ingest", "checks", "derived", "ledger", "reports", "quarterly", "daily")
_GROUP_BY_PREFIX = {"staged": "ingest", "derived": "derived", "ledger": "ledger", "reports": "reports",
                    "checks": "checks"}
_DEFAULT_KINDS = {"staged": {"duckdb"}, "derived": {"duckdb", "sql"}, "ledger": {"duckdb", "sql"},
                  "reports": {"excel"}, "checks": {"duckdb"}}


def _asset_module(assets_def: dg.AssetsDefinition) -> ModuleType | None:
    node = assets_def.node_def
    fn = getattr(getattr(node, "compute_fn", None), "decorated_fn", None)
    return inspect.getmodule(fn) if fn is not None else None


def rule_texts(module: ModuleType | None) -> list[str]:
    """What an asset's code_version follows: the fingerprint of the ``.sql`` files its module runs
    (``SQL_FILES``), the statements it holds (SQL constants, own and imported, rendered from those files with
    their Python parts, such as the person matching of :mod:`warehouse.views`) and ``*_sql`` helpers, and the
    rule thresholds when it takes :class:`RuleConfig`."""
    if module is None:
        return []
    texts = []
    if files := getattr(module, "SQL_FILES", None):
        texts.append(f"sql={sql_files.fingerprint(*files)}")
    for name in sorted(vars(module)):
        value = getattr(module, name)
        if isinstance(value, str) and name.lstrip("_").isupper() and any(
                word in value.upper() for word in ("SELECT ", "INSERT ", "DELETE ")):
            texts.append(f"{name}={value}")
        elif callable(value) and name.endswith("_sql") and inspect.isfunction(value):
            texts.append(f"{name}={inspect.getsource(value)}")
    if texts and hasattr(module, "RuleConfig"):
        texts.append("RuleConfig=" + json.dumps(module.RuleConfig().params(), sort_keys=True))
    return texts


def rule_fingerprint(texts: Iterable[str]) -> str | None:
    texts = list(texts)
    if not texts:
        return None
    return hashlib.sha256("\n\0".join(texts).encode("utf-8")).hexdigest()[:12]


def code_version_for(declared: str | None, fingerprint: str | None) -> str:
    base = declared or "1"
    return f"{base}+sql.{fingerprint}" if fingerprint else base


def apply_to_spec(spec: dg.AssetSpec, fingerprint: str | None = None) -> dg.AssetSpec:
    prefix = spec.key.path[0]
    group = spec.group_name if spec.group_name and spec.group_name != "default" else _GROUP_BY_PREFIX.get(prefix)
    metadata: dict = {}
    if (schema := lineage.column_schema(spec.key)) is not None:
        metadata["dagster/column_schema"] = schema
    if spec.key in lineage.TABLES:
        metadata["dagster/table_name"] = lineage.TABLES[spec.key][0]
    if (col_lineage := lineage.column_lineage(spec.key)) is not None:
        metadata["dagster/column_lineage"] = col_lineage
    if fingerprint:
        metadata["rule_sql_sha256"] = fingerprint
    spec = spec.replace_attributes(
        group_name=group,
        owners=list(spec.owners) or list(OWNERS),
        kinds=set(spec.kinds) or set(_DEFAULT_KINDS.get(prefix, {"python"})),
        code_version=code_version_for(spec.code_version, fingerprint),
    )
    upstream = {a for cols in lineage.COLUMN_LINEAGE.get(spec.key, {}).values() for a, _ in cols}
    missing = sorted(upstream - {d.asset_key for d in spec.deps} - {spec.key}, key=lambda k: k.path)
    return spec.merge_attributes(metadata=metadata, deps=missing) if missing else spec.merge_attributes(
        metadata=metadata)


def apply_policies(assets: Iterable[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """Every asset with the policies above applied (keys and compute functions unchanged)."""
    out = []
    for assets_def in assets:
        fingerprint = rule_fingerprint(rule_texts(_asset_module(assets_def)))
        out.append(assets_def.map_asset_specs(lambda spec, fp=fingerprint: apply_to_spec(spec, fp)))
    return out
