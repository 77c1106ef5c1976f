"""台账 The case ledger: one case per child, as an append-only history of events (DESIGN.md, Derived tables).

States and events (``event_type``: ``from_state`` → ``to_state``)::

    open      (none)                  → suspected   flagged by a rule (SD1–SD5) or a persuasion record arrived
    reopen    closed                  → suspected   flagged again after a close-out (attempts start from 0)
    confirm   suspected               → confirmed   registry says 辍学 (SD4), or flagged in a second month,
                                                    or a persuasion attempt was made
    relapse   returned                → confirmed   flagged again before the close-out
    attempt   any open state          → persuading  one 劝返 attempt, result 未返校 (``attempt_count`` and
                                                    ``failed_attempts`` + 1; an escalated case stays escalated)
    attempt   any open state          → returned    one 劝返 attempt, result 已返校 (``attempt_count`` + 1)
    escalate  persuading              → escalated   ≥ 3 attempts 未返校 in the case and the latest one 未返校:
                                                    report to the joint working group (联控联保工作组)
    return    any open state          → returned    a full month at school without a 已返校 attempt

Counts are kept for the child's one case: a reopened case continues its attempt counts.
    close     any open state          → closed      close-out reason from :data:`CLOSE_REASONS` + evidence

A case is closed (销号) with the first reason that applies, in this order: 死亡 (registry or census says
deceased), 迁出/出国 (census 迁出), 延缓入学/休学 (approval in force), 送教上门 (home-teaching visits this
school year), 超龄离校 (older than ``max_age`` at the period end), 信息错误 (no record with this ID left in
the registry: the record was corrected or cancelled), 已复学 (not flagged, and present or on leave on every
school day of the month with no unexcused day: attending a full month).

Every event names the file that caused it (``source``, ``source_file_sha``): the attendance file of the
school's roll call (SD1/SD2/SD5, full month), the registry file (SD3/SD4, death, record error), the
casework file (attempts, escalation, return), the census, exemptions or home-teaching file (close-outs).

Built from the whole history. The ledger of month M is a function of all inputs dated up to M's end, whether
or not earlier months were run: M's run first derives, oldest first, every month the ledger still lacks
(:func:`catch_up_periods`: the months after the latest month already derived, or, on a new ledger, from the
first month with dated evidence — roll call or casework — and never before the partitions' first month).
Such a month's suspicion is not taken from the monthly derived tables (they hold only the months whose
assets ran): the ledger evaluates that month's roster and suspected dropouts itself, with the very SQL of
:mod:`assets.rules` (``ROSTER_SQL``, ``SUSPECTED_DROPOUTS_SQL``) on the month's own window, into its work
tables ``ledger.evaluated_roster`` / ``ledger.evaluated_suspected`` (the derived tables of other months are
never written); a month without any roll call (persuasion records older than the first roll call) flags
nobody, where the rules would take every registered child for absent. M itself reads ``derived.roster`` / ``derived.suspected_dropouts`` (its upstream assets), or
evaluates them the same way when they hold nothing for M (the ledger materialised alone).
``ledger.periods`` records every month derived (with ``suspicion_from`` = ``derived`` or ``evaluated``), so
a month with no events is not derived again. Hence a first run of June on a backlog writes the events of
March–June, the same rows as running every month in order (tests/test_ledger_backlog.py). A month caught up
reads the registry and census of that month (each scope's newest snapshot dated up to its end: the current
tables are refreshed as of it, :func:`as_of_month`, and back to the run's own month afterwards), as its own
run would have; attendance, casework, exemptions and home teaching are cut at each month's end.

Determinism and backfills. Events of period P are written by P's run (delete the rows with
``created_for_period = P``, insert), or by the first later run that finds P missing, and are derived only
from events of periods before P (the state at the end of P-1) plus P's own inputs. There are no timestamps
or random ids in the events: order is (``created_for_period``, ``event_seq``), and ``event_seq`` numbers P's
events by person key and step. Hence re-running P gives byte-for-byte the same rows, and backfilling an
older period never erases or reorders the events of later periods. A backfill of an older period does not
rewrite later periods on its own: their events stay as they were derived (their run read the older period
as it stood then). To carry a correction forward, backfill the range from the corrected month to the latest
month; the asset depends on its own previous partition, so Dagster's asset backfills run the months in order
(job backfills should run with one run at a time, see :mod:`pipelines.schedules`). The run reports
``later_periods`` in its metadata whenever such later events exist, and ``caught_up_periods`` (events per
month) when it derived earlier months first.
"""


import datetime as dt
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets.common import OWNERS, period_params, table_schema
from assets.derived import ROSTER, STAGED, SUSPECTED
from assets.early_warning import SD1_REACHED_SQL
from assets.report_files import source_files_metadata
from assets.rules import ROSTER_SQL, RuleConfig, age_sql, rule_params, suspected_dropouts_sql
from assets.rules import SQL_FILES as RULE_SQL_FILES
from kongchuo.masking import preview_markdown
from warehouse.home import KongchuoHome
from warehouse.layout import TABLES, VIEWS
from warehouse.partitions import FIRST_MONTH, monthly_partitions, period_bounds, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.sql import load, render
from warehouse.views import CURRENT_VIEWS, SNAPSHOT_VIEWS, first_records_sql, refresh_current, registry_persons_sql

CASE_EVENTS = dg.AssetKey(["ledger", "case_events"])
TABLE = "ledger.case_events"

OPEN_STATES = ("suspected", "confirmed", "persuading", "escalated", "returned")
STATE_LABELS = {"suspected": "疑似辍学", "confirmed": "确认辍学", "persuading": "劝返中",
                "escalated": "已报联控联保工作组", "returned": "已返校", "closed": "已销号"}
EVENT_LABELS = {"open": "建档", "reopen": "重新建档", "confirm": "确认辍学", "relapse": "复学后再次疑似辍学",
                "attempt": "劝返", "escalate": "上报联控联保工作组", "return": "返校", "close": "销号"}
# Close-out reasons (DESIGN.md): key -> label used in reports and in the ``reason`` column.
CLOSE_REASONS = {"deceased": "死亡", "moved_out": "迁出/出国", "exempted": "延缓入学/休学",
                 "home_taught": "送教上门", "aged_out": "超龄离校", "record_error": "信息错误",
                 "returned": "已复学"}
CLOSE_ORDER = ("deceased", "moved_out", "exempted", "home_taught", "aged_out", "record_error", "returned")
ESCALATE_AFTER = 3

COLUMNS = ["period", "created_for_period", "event_seq", "person_key", "id_number", "student_no", "school_code",
           "township_code", "event_date", "event_type", "from_state", "to_state", "reason", "evidence",
           "attempt_count", "failed_attempts", "source", "source_file_sha"]

CASES_VIEW = f"CREATE OR REPLACE VIEW ledger.cases AS {VIEWS['ledger.cases'].strip()}"


def state_as_of_sql(before: bool) -> str:
    """Last event per person among events of periods ``< :period`` (``before``) or ``<= :period``."""
    return render("ledger/state_as_of", before_or_at="<" if before else "<=")


def ledger_sql(name: str, relations: dict[str, str]) -> str:
    """The statement ``warehouse/sql/ledger/<name>.sql`` reading the month's suspicion and roster from
    ``relations`` (the monthly derived tables, or the ledger's work tables of a month it evaluates itself)."""
    candidates = render("ledger/candidates", state_before=state_as_of_sql(before=True),
                        suspected=relations["suspected"])
    return render(f"ledger/{name}", candidates=candidates, attendance_files=load("ledger/attendance_files"),
                  suspected=relations["suspected"], roster=relations["roster"],
                  registry_persons=registry_persons_sql(), sd1_reached=SD1_REACHED_SQL,
                  age_on_end=age_sql("birth_date", "CAST(:end AS DATE)"),
                  first_records=first_records_sql("p.person_key IN (SELECT person_key FROM cand)"))


@dataclass
class _Case:
    state: str | None
    attempts: int
    failed: int
    opened_before: bool


def derive_events(period: str, end: dt.date, prior: pd.DataFrame, flagged: pd.DataFrame, attempts: pd.DataFrame,
                  closers: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    """The period's events from the state at the end of the previous period and the period's inputs.

    A pure function of its inputs (frames as returned by the SQL above), so it is tested directly.
    """
    cases = {r.person_key: _Case(r.state, int(r.attempt_count), int(r.failed_attempts), r.state != "closed")
             for r in prior.itertuples(index=False)}
    prior_info = {r.person_key: (r.id_number, r.student_no, r.school_code, r.township_code)
                  for r in prior.itertuples(index=False)}
    info = {r.person_key: (r.id_number, r.student_no, r.school_code, r.township_code)
            for r in people.itertuples(index=False)}
    flags = {r.person_key: r for r in flagged.itertuples(index=False)}
    tries: dict[str, list] = {}
    for r in attempts.sort_values(["person_key", "attempt_date", "method", "result", "file_sha"],
                                  na_position="first").itertuples(index=False):
        tries.setdefault(r.person_key, []).append(r)
    closes: dict[str, dict[str, Any]] = {}
    for r in closers.itertuples(index=False):
        closes.setdefault(r.person_key, {}).setdefault(r.kind, r)

    persons = sorted({k for k, c in cases.items() if c.state != "closed"} | set(flags) | set(tries))
    events: list[dict[str, Any]] = []
    for key in persons:
        flag = flags.get(key)
        ident = info.get(key) or prior_info.get(key) or (None, None, None, None)
        if flag is not None:
            ident = (flag.id_number, flag.student_no, flag.school_code, flag.township_code)
        had_record = (prior_info.get(key) or (None,) * 4)[2] is not None
        out = _person_events(cases.get(key, _Case(None, 0, 0, False)), flag, tries.get(key, []),
                             closes.get(key, {}), had_record, end)
        for e in out:
            e.update(person_key=key, id_number=ident[0], student_no=ident[1], school_code=ident[2],
                     township_code=ident[3])
        events.extend(out)

    frame = pd.DataFrame(events, columns=[c for c in COLUMNS if c not in ("period", "created_for_period", "event_seq")])
    frame.insert(0, "event_seq", range(1, len(frame) + 1))
    frame.insert(0, "created_for_period", period)
    frame.insert(0, "period", period)
    return frame[COLUMNS]


def _person_events(case: _Case, flag: Any, person_tries: list, reasons: dict[str, Any], had_record: bool,
                   end: dt.date) -> list[dict[str, Any]]:
    """One person's events of the period, in order; ``case`` (the state so far) is updated as they happen."""
    first_date = min([t.attempt_date for t in person_tries], default=end)
    # a child flagged by SD1 is suspected from the school day the rule was reached (R7's first warning day,
    # DESIGN.md / issue 18), or from an earlier persuasion attempt; other rules: the month's end
    flag_date = getattr(flag, "flag_date", None) if flag is not None else None
    if flag_date is not None and not pd.isna(flag_date):
        first_date = min(_day(first_date), _day(flag_date)) if person_tries else _day(flag_date)
    out: list[dict[str, Any]] = []

    def emit(event_type: str, to_state: str, date: dt.date, reason: str | None, evidence: str | None,
             source: str | None, sha: str | None) -> None:
        out.append({"event_type": event_type, "from_state": case.state, "to_state": to_state,
                    "event_date": date, "reason": reason, "evidence": evidence,
                    "attempt_count": case.attempts, "failed_attempts": case.failed, "source": source,
                    "source_file_sha": sha})
        case.state = to_state

    if flag is not None:
        src, sha = _flag_source(flag)
        if case.state is None or case.state == "closed":
            reopening = case.state == "closed"
            emit("reopen" if reopening else "open", "suspected", first_date, f"疑似辍学：{flag.rules}",
                 f"规则 {flag.rules}", src, sha)
            case.opened_before = False
            if "SD4" in flag.rules.split(","):
                emit("confirm", "confirmed", first_date, "学籍状态为辍学", "SD4", "registry", flag.registry_sha)
        elif case.state == "suspected" and case.opened_before:
            emit("confirm", "confirmed", first_date, "连续两个月疑似辍学", f"规则 {flag.rules}", src, sha)
        elif case.state == "suspected" and "SD4" in flag.rules.split(","):
            emit("confirm", "confirmed", first_date, "学籍状态为辍学", "SD4", "registry", flag.registry_sha)
        elif case.state == "returned":
            emit("relapse", "confirmed", first_date, f"返校后再次疑似辍学：{flag.rules}", f"规则 {flag.rules}",
                 src, sha)
    elif person_tries and (case.state is None or case.state == "closed"):
        t0 = person_tries[0]
        emit("reopen" if case.state == "closed" else "open", "suspected", t0.attempt_date, "劝返记录",
             "劝返记录（未被辍学规则标记）", "casework", t0.file_sha)

    for t in person_tries:
        if case.state == "suspected":
            emit("confirm", "confirmed", t.attempt_date, "已开展劝返", "劝返记录", "casework", t.file_sha)
        case.attempts += 1
        evidence = "，".join(str(v) for v in (t.method, t.unit, t.dropout_reason) if v is not None and not pd.isna(v))
        if t.result == "returned":
            emit("attempt", "returned", t.attempt_date, "劝返结果：已返校", evidence, "casework", t.file_sha)
        else:
            case.failed += 1
            emit("attempt", "escalated" if case.state == "escalated" else "persuading", t.attempt_date,
                 "劝返结果：未返校", evidence, "casework", t.file_sha)
            if case.state == "persuading" and case.failed >= ESCALATE_AFTER:
                emit("escalate", "escalated", t.attempt_date, f"劝返{case.failed}次未返校，报联控联保工作组",
                     f"未返校劝返 {case.failed} 次（共劝返 {case.attempts} 次）", "casework", t.file_sha)

    if case.state in OPEN_STATES:
        for kind in CLOSE_ORDER:
            if kind not in reasons or (kind == "returned" and flag is not None):
                continue
            if kind == "record_error" and not had_record:
                continue  # never had a registry record here (e.g. persuading a never-enrolled child)
            c = reasons[kind]
            if kind == "returned" and case.state != "returned":
                emit("return", "returned", end, "本月全勤到校", c.evidence, c.source, c.file_sha)
            emit("close", "closed", end, CLOSE_REASONS[kind], c.evidence, c.source, c.file_sha)
            break
    return out


def _day(value: Any) -> dt.date:
    """A date from a warehouse value (date, datetime or pandas Timestamp)."""
    return pd.Timestamp(value).date()


def _flag_source(flag: Any) -> tuple[str, str | None]:
    rules = set(flag.rules.split(","))
    if rules & {"SD3", "SD4"} or not flag.attendance_sha:
        return "registry", flag.registry_sha
    return "attendance", flag.attendance_sha


# Where a month's suspicion and roster come from: the monthly derived tables for the run's own month (its
# upstream assets), the ledger's own evaluation of the same rule SQL for months the ledger catches up on.
DERIVED_RELATIONS = {"suspected": "derived.suspected_dropouts", "roster": "derived.roster"}
EVALUATED_RELATIONS = {"suspected": "ledger.evaluated_suspected", "roster": "ledger.evaluated_roster"}
PERIODS_TABLE = "ledger.periods"  # one row per month whose events were derived (also when there were none)

WORK_TABLES = {
    EVALUATED_RELATIONS["roster"]: TABLES["derived.roster"],
    EVALUATED_RELATIONS["suspected"]: TABLES["derived.suspected_dropouts"],
    PERIODS_TABLE: "period TEXT NOT NULL, events INTEGER NOT NULL, suspicion_from TEXT NOT NULL",
}

FIRST_EVIDENCE_SQL = load("ledger/first_evidence")  # where a ledger's history starts
ROLL_CALL_IN_MONTH_SQL = load("ledger/roll_call_in_month")
DERIVED_PERIODS_SQL = load("ledger/derived_periods")
ATTEMPTS_SQL = load("ledger/attempts")
# As the monthly run reads them (the derived tables); a month the ledger evaluates itself: ledger_sql(name, relations).
FLAGGED_SQL = ledger_sql("flagged", DERIVED_RELATIONS)
CLOSERS_SQL = ledger_sql("closers", DERIVED_RELATIONS)
PEOPLE_SQL = ledger_sql("people", DERIVED_RELATIONS)
SQL_FILES = ("ledger/state_as_of", "ledger/attendance_files", "ledger/candidates", "ledger/flagged", "ledger/attempts",
             "ledger/closers", "ledger/people", "ledger/first_evidence", "ledger/roll_call_in_month",
             "ledger/derived_periods", "matching/first_records", *RULE_SQL_FILES)  # policies: code_version


def ensure_work_tables(warehouse: WarehouseResource) -> None:
    with warehouse.begin() as conn:
        warehouse.lock_ddl(conn)
        for table, columns in WORK_TABLES.items():
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {table} ({columns.strip()})"))
            # a work table made before the roster gained a column (transfer_date): add it, as ensure_layout does
            schema, name = table.split(".")
            have = {c for (c,) in conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"),
                {"s": schema, "t": name}).all()}
            for part in columns.replace("\n", " ").split(","):
                bits = part.split()
                if bits and bits[0] not in have:
                    kind = " ".join(b for b in bits[1:] if b.upper() not in ("NOT", "NULL"))
                    conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {bits[0]} {kind}"))


def month_key(day: dt.date) -> str:
    return f"{day.year}-{day.month:02d}"


def next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def catch_up_periods(warehouse: WarehouseResource, period: str) -> list[str]:
    """The months before ``period`` whose events the ledger still lacks, oldest first.

    Only the tail after the latest month already derived (or, with none, from the first month with dated
    evidence): filling a gap that lies before derived months would put events before events that were
    derived without them. Months before the partitions' first month are never derived."""
    start, end = period_bounds(period)
    done = sorted(warehouse.query_df(DERIVED_PERIODS_SQL, {"period": period})["period"].astype(str))
    if done:
        first = next_month(done[-1])
    else:
        day = warehouse.scalar(FIRST_EVIDENCE_SQL, {"end": start - dt.timedelta(days=1)})
        if day is None:
            return []
        first = max(month_key(day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])),
                    FIRST_MONTH)
    months = []
    while first < period:
        months.append(first)
        first = next_month(first)
    return months


def evaluate_month(warehouse: WarehouseResource, params: dict[str, Any]) -> None:
    """The month's roster and suspected dropouts by the rule SQL of :mod:`assets.rules`, into the ledger's
    work tables (the monthly derived tables of that month are never touched: they belong to its own run)."""
    period = params["period"]
    suspected_sql = suspected_dropouts_sql(EVALUATED_RELATIONS["roster"])
    # A month without any roll call (casework dated before the first roll-call month) flags nobody: the rules
    # would take every registered child for absent (SD5).
    with_roll_call = warehouse.scalar(ROLL_CALL_IN_MONTH_SQL, params) is not None
    with warehouse.begin() as conn, warehouse.unordered_inserts(conn):
        for table, select in ((EVALUATED_RELATIONS["roster"], ROSTER_SQL),
                              (EVALUATED_RELATIONS["suspected"], suspected_sql)):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE period = :period"), {"period": period})
            if with_roll_call or table == EVALUATED_RELATIONS["roster"]:
                conn.execute(sa.text(f"INSERT INTO {table} {select}"), params)


def write_period(warehouse: WarehouseResource, period: str, params: dict[str, Any],
                 relations: dict[str, str] = DERIVED_RELATIONS) -> pd.DataFrame:
    """Derive and store the period's events (delete-then-insert of ``created_for_period = period`` only)."""
    prior = warehouse.query_df(state_as_of_sql(before=True), params)
    flagged = warehouse.query_df(ledger_sql("flagged", relations), params)
    attempts = warehouse.query_df(ATTEMPTS_SQL, params)
    closers = warehouse.query_df(ledger_sql("closers", relations), params)
    people = warehouse.query_df(ledger_sql("people", relations), params)
    events = derive_events(period, params["end"], prior, flagged, attempts, closers, people)
    origin = "derived" if relations is DERIVED_RELATIONS else "evaluated"
    with warehouse.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {TABLE} WHERE created_for_period = :p"), {"p": period})
        warehouse.insert_frame(conn, TABLE, events)
        conn.execute(sa.text(f"DELETE FROM {PERIODS_TABLE} WHERE period = :p"), {"p": period})
        conn.execute(sa.text(f"INSERT INTO {PERIODS_TABLE} (period, events, suspicion_from) VALUES (:p, :n, :o)"),
                     {"p": period, "n": len(events), "o": origin})
        conn.execute(sa.text(CASES_VIEW))
    return events


def own_month_relations(warehouse: WarehouseResource, params: dict[str, Any]) -> dict[str, str]:
    """The run's own month reads its derived tables (upstream in the job); when they hold nothing for it (the
    ledger materialised alone for a month whose derived assets never ran), the ledger evaluates the rules."""
    if warehouse.scalar("SELECT 1 FROM derived.roster WHERE period = :period LIMIT 1", params) is not None:
        return DERIVED_RELATIONS
    evaluate_month(warehouse, params)
    return EVALUATED_RELATIONS


def catch_up(warehouse: WarehouseResource, period: str, config: RuleConfig, mode: str) -> dict[str, int]:
    """Derive the events of every month :func:`catch_up_periods` names, in order, evaluating each month's
    rules on its own window (the same bind parameters as the month's own run); returns the number of events
    per month caught up."""
    done: dict[str, int] = {}
    months = catch_up_periods(warehouse, period)
    if not months:
        return done
    try:
        for month in months:
            as_of_month(warehouse, month)
            params = rule_params(warehouse, period_params(month), config, mode)
            evaluate_month(warehouse, params)
            done[month] = len(write_period(warehouse, month, params, EVALUATED_RELATIONS))
    finally:
        as_of_month(warehouse, period)  # the run's own period reads its own registry again
    return done


SNAPSHOT_SOURCES = [CURRENT_VIEWS[view][0] for view in SNAPSHOT_VIEWS]  # registry, census


def as_of_month(warehouse: WarehouseResource, period: str) -> None:
    """The current registry and census as of ``period``'s last day: "the registry of month M is each scope's
    newest snapshot dated up to M's end" holds for every month the ledger catches up on, not only the run's own
    (the as-of mechanism of :func:`warehouse.views.refresh_current`; only the scopes that differ are rewritten)."""
    refresh_current(warehouse, SNAPSHOT_SOURCES, as_of=period_bounds(period)[1])


@dg.asset(
    pool=WAREHOUSE_POOL,
    key=CASE_EVENTS,
    # attendance and reference too: months caught up are evaluated from them (evaluate_month)
    deps=[SUSPECTED, ROSTER, STAGED["casework"], STAGED["exemptions"], STAGED["home_teaching"], STAGED["census"],
          STAGED["registry"], STAGED["attendance"], STAGED["reference"],
          dg.AssetDep(CASE_EVENTS, partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))],
    group_name="ledger", owners=OWNERS, partitions_def=monthly_partitions, kinds={"duckdb", "sql"}, code_version="2",
)
def case_events(context: dg.AssetExecutionContext, warehouse: WarehouseResource, home: KongchuoHome,
                config: RuleConfig) -> dg.MaterializeResult:
    """台账 Case ledger events of the month: open, confirm, persuasion attempts, escalation after 3 attempts
    without return, return and close-out (销号) with reason and evidence; ``ledger.cases`` is the current state.
    Built from the whole history: months before this one that the ledger lacks are derived first, in order.
    Append-only: a month's run replaces only its own events (and writes those of months never derived)."""
    period = period_of(context)
    ensure_work_tables(warehouse)
    caught_up = catch_up(warehouse, period, config, home.attendance_mode)
    if caught_up:
        context.log.info(f"ledger {period}: derived the months before it first: {caught_up}")
    params = rule_params(warehouse, period_params(period), config, home.attendance_mode)
    events = write_period(warehouse, period, params, own_month_relations(warehouse, params))
    later = warehouse.query_df(
        f"SELECT DISTINCT created_for_period FROM {TABLE} WHERE created_for_period > :p ORDER BY 1", {"p": period})
    later_periods = list(later["created_for_period"])
    if later_periods:
        context.log.warning(f"ledger {period}: later periods {', '.join(later_periods)} were derived before this "
                            "run and keep their events; backfill them in order to carry changes forward")
    by_type = events.groupby("event_type").size().to_dict() if len(events) else {}
    states = warehouse.query_df(
        f"SELECT state, count(*) AS n FROM ({state_as_of_sql(before=False)}) s GROUP BY state ORDER BY state",
        {"period": period})
    context.log.info(f"ledger {period}: {len(events)} events {by_type}")
    return dg.MaterializeResult(metadata={
        **source_files_metadata(warehouse, period),
        "dagster/row_count": len(events),
        "dagster/table_name": TABLE,
        "dagster/column_schema": table_schema(TABLE),
        "period": period,
        "events_by_type": dg.MetadataValue.json({k: int(v) for k, v in by_type.items()}),
        "cases_by_state": dg.MetadataValue.md(states.to_markdown(index=False) if len(states) else "(none)"),
        "later_periods": dg.MetadataValue.json(later_periods),
        "caught_up_periods": dg.MetadataValue.json(caught_up),
        "preview": dg.MetadataValue.md(preview_markdown(
            events[["person_key", "event_seq", "event_type", "from_state", "to_state", "reason", "attempt_count"]])),
    })


ledger_assets = [case_events]
