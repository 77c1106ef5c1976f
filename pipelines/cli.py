"""``kongchuo``: the command line of the pipeline.

    kongchuo run --period 2026-06 [--sample]   ingest landing, run the monthly graph for the period
    kongchuo run --period 2026-06 --period 2026-Q2   several periods in order, in one process (make demo)
    kongchuo generate --district 411003 ...    write a synthetic district with ground truth
    kongchuo explain --period 2026-06 --report R1 --row <row> --column <column> [--format csv]
                                               cases behind a report number, with their source rows
    kongchuo warn --date 2026-10-20 [--to 2026-10-31]   R7 每日预警名单 for a school day (or a backfill)
    kongchuo instance                          create/print the Dagster instance folder (telemetry off)

Runs go through Dagster with the instance in ``DAGSTER_HOME`` (default ``$KONGCHUO_HOME/dagster``), so the
UI (``make dev``) shows their history, checks and lineage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from kongchuo import settings

# The local instance: no telemetry; warehouse writers (pool kongchuo_warehouse, warehouse/pools.py) one run at a
# time, because DuckDB allows a single writer process (queued runs; direct runs wait on DuckDB's file lock).
LOCAL_INSTANCE_YAML = """telemetry:
  enabled: false
concurrency:
  pools:
    granularity: run
    default_limit: 1
"""


def _dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or settings.kongchuo_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.write_text(LOCAL_INSTANCE_YAML, encoding="utf-8")
    return home


SAMPLE_REFERENCE = ("school_calendar.csv",)  # the sample's own school days; townships/schools stay the bundled ones


def copy_sample(home: Path, sample: Path = settings.SAMPLE_DIR) -> int:
    """Copy the bundled sample extracts into ``landing/`` and its school calendar into ``reference/`` (the term
    start SD2 needs: 2 March, not the day after the Spring Festival holiday); existing files are left alone."""
    copied = 0
    pairs = [(src, settings.landing_dir(home, src.parent.name) / src.name)
             for src in sorted((sample / "landing").glob("*/*"))]
    pairs += [(sample / "reference" / name, home / "reference" / name) for name in SAMPLE_REFERENCE
              if (sample / "reference" / name).exists()]
    for src, dest in pairs:
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
            copied += 1
    return copied


def cmd_run(args: argparse.Namespace) -> int:
    _dagster_home()
    home = settings.kongchuo_home()
    if args.sample:
        n = copy_sample(home)
        print(f"样例数据 sample: {n} new file(s) copied to {home / 'landing'} and {home / 'reference'}")
    from kongchuo.run_lock import period_lock
    from pipelines.run import local_instance, run_period

    # Several periods (make demo: the month, then its quarter) run one after the other in this one process:
    # Dagster, the definitions and the instance are loaded once. The first that fails stops the rest. Each
    # period holds the home's run lock while it runs: a run refreshes the current tables as of its period
    # (kongchuo/run_lock.py).
    with local_instance() as instance:
        for period in args.period:
            with period_lock(home, period, say=_say):
                result = run_period(period, job=args.job, instance=instance)
            print(result.summary(), flush=True)
            if not result.success:
                return 1
    return 0


def _say(text: str) -> None:
    print(text, flush=True)


def cmd_generate(args: list[str]) -> int:
    from kongchuo.generate.__main__ import main as generate_main

    return generate_main(args) or 0


def cmd_explain(args: argparse.Namespace) -> int:
    """Exit 0 with the cases, or 2 with the valid choices when the question names nothing that exists."""
    from pipelines.explain import QuestionError, explain

    try:
        text = explain(args.period, args.report, args.row, args.column, fmt=args.format)
    except QuestionError as exc:
        print(f"kongchuo explain: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_warn(args: argparse.Namespace) -> int:
    """R7 每日预警名单 for one school day (or a range: a backfill), after ingesting landing."""
    _dagster_home()
    from kongchuo.run_lock import period_lock
    from pipelines.run import warn_days

    with period_lock(settings.kongchuo_home(), args.date[:7], say=_say):  # its ingest refreshes the month's tables
        outcomes = warn_days(args.date, args.to)
    for outcome in outcomes:
        print(outcome.summary())
    # The ingest run's checks (e.g. DQ10 on a month in progress) do not decide: the day's list does.
    return 0 if all(o.success for o in outcomes if len(o.period) == 10) else 1


def cmd_instance(args: argparse.Namespace) -> int:
    """Create (if missing) and print the Dagster instance folder the CLI, `make dev` and `make audit` share."""
    print(_dagster_home())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "generate":
        return cmd_generate(argv[1:])
    parser = argparse.ArgumentParser(prog="kongchuo", description="控辍保学 data pipeline")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest landing files and materialize the graph for a period")
    run.add_argument("--period", required=True, action="append",
                     help="month '2026-10' or quarter '2026-Q4'; repeat it to run several in order")
    run.add_argument("--sample", action="store_true", help="first copy the bundled sample into landing/")
    run.add_argument("--job", default=None, help="job name (default: monthly_job or quarterly_job by period)")
    run.set_defaults(func=cmd_run)
    sub.add_parser("generate", help="write a synthetic district (see `kongchuo generate --help`)")
    ex = sub.add_parser("explain", help="list the (masked) cases behind one report cell")
    ex.add_argument("--period", required=True)
    ex.add_argument("--report", required=True, help="R1, R2, R4 or R6")
    ex.add_argument("--row", required=True,
                    help="school code or name, township name or township:<code>, or 合计 for the totals row")
    ex.add_argument("--column", required=True,
                    help="column header as printed (疑似辍学人数) or its key (suspected, SD1, out_of_school)")
    ex.add_argument("--format", choices=("text", "csv"), default="text", help="csv: one line per evidence row")
    ex.set_defaults(func=cmd_explain)
    warn = sub.add_parser("warn", help="R7 daily early-warning list for a school day (ingests landing first)")
    warn.add_argument("--date", required=True, help="school day, e.g. 2026-10-20")
    warn.add_argument("--to", default=None, help="last day of a backfill range (inclusive)")
    warn.set_defaults(func=cmd_warn)
    inst = sub.add_parser("instance", help="create and print the Dagster instance folder (DAGSTER_HOME)")
    inst.set_defaults(func=cmd_instance)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    finally:
        # Nothing the command started may outlive it (issue 16): parse workers' resource tracker, Dagster's
        # compute-log helpers.
        from kongchuo.workers import end_children

        end_children()


if __name__ == "__main__":
    raise SystemExit(main())
