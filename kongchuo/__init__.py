"""kongchuo: control of dropouts in compulsory education (控辍保学) as a Dagster pipeline.

This installed package holds the domain rules that do not depend on Dagster (ID numbers, masking,
source specs, value normalisation, the synthetic district generator) and the ``kongchuo`` CLI.
The Dagster code location (``pipelines/``, ``assets/``, ``checks/``, ``warehouse/``) is loaded from
the repository root through ``workspace.yaml`` and is deliberately not installed into site-packages.
"""

import os

# Bureaus run on closed networks: no telemetry or analytics calls, ever (DESIGN.md, Non-functional).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")
