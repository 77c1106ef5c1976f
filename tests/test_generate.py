"""Tests of the synthetic district generator, including an independent brute-force recomputation of SD1, SD3, SD5,
OOS, DQ04 and DQ06 from the written files (its own minimal reader, not the ingestion code).

Never prints IDs or names: messages carry counts and masked samples only."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from kongchuo import idnumber
from kongchuo.generate import Rates, generate
from kongchuo.masking import mask_id
from kongchuo.settings import SAMPLE_DIR
from kongchuo.sources import SPECS

START, END = dt.date(2026, 3, 2), dt.date(2026, 6, 30)
RICH = Rates(DQ08=0.01, SD1=0.01, SD3=0.01, SD5=0.008, SD5_MONTH=0.008, DQ04=0.008, DQ06=0.008, OOS=0.008,
             OOS_AWAY=0.006, EX_EXPIRED=0.006, EX_AGE=0.008, HT=0.006)


def _masked(items, n=3) -> list[str]:
    return [mask_id(str(x)) for x in sorted(items, key=str)[:n]]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def district(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "d"
    generate("411003", 800, 11, START, END, out, rates=RICH)
    return out


# ------------------------------------------------------------------------------ minimal independent reader

def _read_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        return pd.DataFrame(rows[1:], columns=[str(h) for h in rows[0]], dtype=object)
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        text = raw[3:].decode("utf-8")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("gb18030")
    import io
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _dates(s: pd.Series) -> pd.Series:
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    is_date = s.map(lambda v: isinstance(v, (dt.date, dt.datetime)))
    is_num = s.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    if is_date.any():
        out[is_date] = pd.to_datetime(s[is_date].map(lambda v: v.isoformat()[:10]), format="%Y-%m-%d")
    if is_num.any():
        out[is_num] = pd.Timestamp("1899-12-30") + pd.to_timedelta(s[is_num].astype(float), unit="D")
    txt = s[~is_date & ~is_num].astype(str).str.strip()
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"):
        todo = out.loc[txt.index].isna()
        if not todo.any():
            break
        got = pd.to_datetime(txt[todo], format=fmt, errors="coerce")
        out.loc[got.index] = out.loc[got.index].fillna(got)
    return out


def load(root: Path, source: str) -> pd.DataFrame:
    spec = SPECS[source]
    amap = spec.alias_map
    from kongchuo.sources import normalize_header
    frames = []
    for path in sorted((root / "landing" / source).iterdir()):
        df = _read_file(path)
        df.columns = [amap[normalize_header(c)] for c in df.columns]
        found = re.search(r"_(20\d{6})_", path.name)  # a snapshot's date is in its name (学籍_建安区_20260630_01)
        df["_file_date"] = pd.Timestamp(found[1]) if found else pd.NaT
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    for c in df.columns:
        if c.startswith("_"):
            continue
        col = spec.column(c)
        if col.kind == "id":
            df[c] = idnumber.normalize_series(df[c].astype(str).replace("", None)).fillna("").astype(str)
        elif col.kind == "date":
            df[c] = _dates(df[c])
        elif col.kind == "code" and col.vocabulary:
            df[c] = df[c].astype(str).str.strip().map(lambda v: col.vocabulary.get(v, col.vocabulary.get(v.lower(), v)))
        else:
            df[c] = df[c].fillna("").astype(str)
    return df


_GRADE_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
                "初一": 7, "初二": 8, "初三": 9}


def _grade_no(text: str) -> int | None:
    text = str(text).replace("年级", "").strip()
    try:
        return int(float(text))  # 9, "9", "9.0" (a number cell read back)
    except ValueError:
        return _GRADE_WORDS.get(text)


def _person_of(id_number: str, student_no: str) -> str:
    """DESIGN.md "Matching a child": the valid ID, else the ID inside a G number, else what the record has."""
    if idnumber.is_valid(id_number):
        return id_number
    if student_no.startswith("G") and idnumber.is_valid(student_no[1:]):
        return student_no[1:]
    return id_number or student_no


def _age(birth: pd.Series, on: dt.date) -> np.ndarray:
    b = pd.DatetimeIndex(birth)
    return on.year - b.year.to_numpy() - ((on.month * 100 + on.day) < (b.month * 100 + b.day).to_numpy())


def _month_bounds(p: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    per = pd.Period(p, freq="M")
    return per.start_time.normalize(), per.end_time.normalize()


def brute_force(root: Path) -> dict[str, set]:
    meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    periods = meta["periods"]
    ref = dt.date.fromisoformat(meta["reference_date"])
    reg = load(root, "registry")
    att = load(root, "attendance")
    cen = load(root, "census")
    exm = load(root, "exemptions")
    ht = load(root, "home_teaching")

    reg["person_key"] = [_person_of(i, n) for i, n in zip(reg["id_number"], reg["student_no"])]
    reg["age_birth"] = [pd.Timestamp(k[6:14]) if idnumber.is_valid(k) else b
                        for k, b in zip(reg["person_key"], reg["birth_date"])]
    reg["grade_no"] = reg["grade"].map(_grade_no)
    act = reg[reg["status"] == "active"]
    sno_to_pkey = reg.drop_duplicates("student_no").set_index("student_no")["person_key"]
    if "id_number" not in att:
        att["id_number"] = ""
    if "student_no" not in att:
        att["student_no"] = ""
    att["id_number"] = att["id_number"].fillna("")
    att["student_no"] = att["student_no"].fillna("").astype(str).replace("nan", "")
    by_id = att["id_number"] != ""
    att["record_key"] = np.where(by_id, att["id_number"], att["student_no"])
    att["person_key"] = np.where(by_id, att["id_number"],
                                 att["student_no"].map(sno_to_pkey).fillna(att["student_no"]))
    att["period"] = att["date"].dt.strftime("%Y-%m")

    dead = set(reg.loc[reg["status"] == "deceased", "person_key"]) | set(cen.loc[cen["residence_status"] == "deceased", "id_number"])
    grad = set(reg.loc[(reg["status"] == "graduated") & (reg["grade_no"] == 9), "person_key"])
    htk = set(ht["id_number"])
    birth = reg.sort_values("status").drop_duplicates("person_key").set_index("person_key")["age_birth"]

    def excluded(keys: set, p: str) -> set:
        p0, p1 = _month_bounds(p)
        inforce = set(exm.loc[(exm["approved_on"] <= p1) & (exm["valid_until"] >= p1), "id_number"])
        b = birth.reindex(list(keys))
        old = set(b.index[_age(b, p1.date()) >= 16]) if len(b) else set()
        return keys & (inforce | htk | dead | grad | old)

    res: dict[str, set] = {k: set() for k in ("SD1", "SD3", "SD5", "OOS", "OOS_AWAY", "DQ04", "DQ06")}
    # SD1: consecutive school days of the school (dates with rows at that school)
    att = att.sort_values(["school_code", "record_key", "date"])
    att["pos"] = att.groupby("school_code")["date"].rank(method="dense").astype(int)
    u = att[att["status"] == "unexcused"].copy()
    for (key, sc), g in u.groupby(["person_key", "school_code"]):  # a run crosses month ends
        g = g.sort_values("pos")
        run, prev = 0, None
        for pos, p in zip(g["pos"], g["period"]):
            run = run + 1 if prev is not None and pos == prev + 1 else 1
            prev = pos
            if run == 3:  # the month in which the run reaches 3
                res["SD1"].add((p, key))
    for (key, sc, p), g in u.groupby(["person_key", "school_code", "period"]):
        if len(g) >= 10:
            res["SD1"].add((p, key))
    for p in periods:
        hits = {k for (pp, k) in res["SD1"] if pp == p}
        res["SD1"] -= {(p, k) for k in excluded(hits, p)}
    # SD3: 转出, no active record anywhere, more than 30 days after the transfer at the cut-off; the transfer date
    # is the record's 变动日期 where its file has one, else the snapshot's date (the file name's)
    outs = reg[(reg["status"] == "transferred_out") & ~reg["person_key"].isin(set(act["person_key"]))]
    changed = outs["change_date"] if "change_date" in outs else pd.Series(pd.NaT, index=outs.index)
    latest = changed.fillna(outs["_file_date"]).groupby(outs["person_key"]).max()
    for p in periods:
        p1 = _month_bounds(p)[1]
        cand = {k for k, d in latest.items() if (p1 - d).days > 30}
        res["SD3"] |= {(p, k) for k in cand - excluded(cand, p)}
    # SD5
    for p in periods:
        present = set(att.loc[att["period"] == p, "person_key"])
        cand = set(act["person_key"]) - present
        res["SD5"] |= {(p, k) for k in cand - excluded(cand, p)}
    # OOS
    reg_ids = (set(reg["id_number"]) | set(reg["person_key"])) - {""}  # by ID, then by the ID inside a G number
    c = cen[~cen["id_number"].isin(reg_ids)].copy()
    age = _age(c["birth_date"], ref)
    for p in periods:
        p0, p1 = _month_bounds(p)
        inforce = set(exm.loc[(exm["approved_on"] <= p1) & (exm["valid_until"] >= p1), "id_number"])
        ok = (age >= 6) & (age <= 15) & ~c["id_number"].isin(inforce).to_numpy()
        res["OOS"] |= {(p, k) for k in c.loc[ok & (c["residence_status"] == "resident").to_numpy(), "id_number"]}
        res["OOS_AWAY"] |= {(p, k) for k in c.loc[ok & (c["residence_status"] == "away").to_numpy(), "id_number"]}
    # DQ04
    a = act[act["id_number"] != ""]
    multi = a.groupby("id_number")["school_code"].transform("nunique") >= 2
    res["DQ04"] = set(zip(a.loc[multi, "person_key"], a.loc[multi, "student_no"]))
    # DQ06
    have = set(zip(act["person_key"], act["school_code"]))
    for (p, key, sc, rk), _ in att.groupby(["period", "person_key", "school_code", "record_key"]):
        if (key, sc) not in have:
            res["DQ06"].add((p, rk, sc))
    return res


def truth_sets(root: Path) -> dict[str, set]:
    gt = pd.read_csv(root / "ground_truth.csv", dtype=str, keep_default_na=False)
    out = {}
    for case in ("SD1", "SD3", "SD5", "OOS", "OOS_AWAY"):
        g = gt[gt["case"] == case]
        out[case] = set(zip(g["period"], g["person_key"]))
    g = gt[gt["case"] == "DQ04"]
    out["DQ04"] = set(zip(g["person_key"], g["record_key"]))
    g = gt[gt["case"] == "DQ06"]
    out["DQ06"] = set(zip(g["period"], g["record_key"], g["school_code"]))
    return out


# ------------------------------------------------------------------------------ tests

def test_brute_force_agrees_with_ground_truth(district):
    got, want = brute_force(district), truth_sets(district)
    for case in want:
        assert want[case], f"{case}: nothing planted"
        missing, extra = want[case] - got[case], got[case] - want[case]
        assert not missing and not extra, (
            f"{case}: truth {len(want[case])}, recomputed {len(got[case])}; "
            f"missing {len(missing)} e.g. {_masked(k[1] for k in missing)}, extra {len(extra)} e.g. "
            f"{_masked(k[1] for k in extra)}")


def test_every_case_planted(district):
    gt = pd.read_csv(district / "ground_truth.csv", dtype=str, keep_default_na=False)
    counts = gt["case"].value_counts()
    for case in ("SD1", "SD2", "SD3", "SD4", "SD5", "SD6", "OOS", "OOS_AWAY", "DQ01", "DQ02", "DQ04", "DQ05", "DQ06",
                 "DQ07", "DQ08", "ESC", "RETURNED", "HT_NONCOMPLIANT", "EXCLUDED"):
        assert counts.get(case, 0) > 0, case
    excluded = set(gt.loc[gt["case"] == "EXCLUDED", ["period", "person_key"]].itertuples(index=False, name=None))
    for case in ("SD1", "SD2", "SD3", "SD4", "SD5", "SD6", "OOS"):
        rows = set(gt.loc[gt["case"] == case, ["period", "person_key"]].itertuples(index=False, name=None))
        both = rows & excluded
        assert not both, f"{case} rows also EXCLUDED: {len(both)}"
    details = " ".join(gt.loc[gt["case"] == "EXCLUDED", "detail"])
    for why in ("exemption", "home_teaching", "deceased", "graduated", "over_16", "age 5", "age 16", "迁出",
                "transfer received"):
        assert why in details, why


def test_ids_valid_except_dq01(district):
    reg = load(district, "registry")
    gt = pd.read_csv(district / "ground_truth.csv", dtype=str, keep_default_na=False)
    dq01 = set(gt.loc[gt["case"] == "DQ01", "record_key"])
    ids = reg.loc[(reg["id_number"] != "") & ~reg["student_no"].isin(dq01), "id_number"]
    bad = idnumber.problem_series(ids).dropna()
    assert bad.empty, f"{len(bad)} invalid IDs outside DQ01, e.g. {_masked(ids[bad.index])}"
    assert 0 < len(dq01) < 0.05 * len(reg)
    # vectorised check digits agree with the contract's make_id
    for v in ids.head(50):
        born = idnumber.birth_date_of(v)
        assert idnumber.make_id(v[:6], born, int(v[14:17])) == v
    # genders from the 17th digit agree for non-DQ02 records
    dq02 = set(gt.loc[gt["case"] == "DQ02", "record_key"])
    ok = reg[(reg["id_number"] != "") & ~reg["student_no"].isin(dq01 | dq02)]
    g = np.where(ok["id_number"].str.slice(16, 17).astype(int) % 2 == 1, "M", "F")
    assert (ok["gender"].to_numpy() == g).all()
    cen = load(district, "census")
    assert idnumber.problem_series(cen["id_number"]).dropna().empty


def test_age_grade_of_normal_students(district):
    reg = load(district, "registry")
    gt = pd.read_csv(district / "ground_truth.csv", dtype=str, keep_default_na=False)
    meta = json.loads((district / "meta.json").read_text(encoding="utf-8"))
    flagged = set(gt["record_key"]) | set(gt["person_key"])
    normal = reg[~reg["student_no"].isin(flagged) & ~reg["id_number"].isin(flagged) & (reg["status"] == "active")]
    grade = normal["grade"].str.extract(r"(\d)")[0]
    words = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "初一": 7, "初二": 8, "初三": 9}
    g = normal["grade"].map(lambda v: words.get(v.replace("年级", ""), None))
    grade = grade.astype(float).fillna(g).astype(int)
    diff = _age(normal["birth_date"], dt.date.fromisoformat(meta["reference_date"])) - grade.to_numpy()
    assert len(normal) > 600
    assert set(np.unique(diff)) <= {5, 6}, np.unique(diff, return_counts=True)
    assert (diff == 5).mean() > 0.9


def test_deterministic_and_seed_sensitive(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((a, 3), (b, 3), (c, 4)):
        generate("341802", 300, seed, dt.date(2026, 3, 2), dt.date(2026, 4, 30), out)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert da == db
    assert da["ground_truth.csv"] != dc["ground_truth.csv"]
    assert any(da[k] != dc.get(k) for k in da if "registry" in k)


def test_formats_aliases_and_styles(district):
    meta = json.loads((district / "meta.json").read_text(encoding="utf-8"))
    _check_coverage(meta)
    for f in meta["files"]:
        assert (district / f["path"]).exists()
    keys = {f["key"] for f in meta["files"] if f["source"] == "attendance"}
    assert keys == {"student_no", "id_number"}


def _check_coverage(meta: dict) -> None:
    for source in ("registry", "attendance", "census"):
        files = [f for f in meta["files"] if f["source"] == source]
        assert {f["format"] for f in files} == {"csv-utf8", "csv-utf8-bom", "csv-gbk", "xlsx"}, source
        assert {f["alias_set"] for f in files} == set(range(6)), source
    styles = {f["date_style"] for f in meta["files"]}
    assert styles >= {"iso", "slash", "compact", "chinese", "excel_date", "excel_serial"}


def test_committed_sample():
    meta_path = SAMPLE_DIR / "meta.json"
    if not meta_path.exists():
        pytest.skip("no committed sample")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    _check_coverage(meta)
    assert meta["students"] == 2000 and meta["district"] == "411003"
    for case, n in meta["case_counts"].items():
        if case != "DQ08":
            assert n >= 5, case
    size = sum(p.stat().st_size for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert size < 15 * 2 ** 20


def test_dirty_ids_present(district):
    texts = []
    for p in (district / "landing" / "registry").glob("*.csv"):
        raw = p.read_bytes()
        try:
            texts.append(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            texts.append(raw.decode("gbk"))
    blob = "".join(texts)
    assert "０" in blob or "１" in blob
    assert " " in blob


def test_rates_parse():
    r = Rates.parse(["DQ08=0.01", "SD1=0"])
    assert r.DQ08 == 0.01 and r.SD1 == 0
    with pytest.raises(ValueError):
        Rates.parse(["NOPE=1"])


def test_profiles_set_rates_under_explicit_overrides():
    from kongchuo.generate.profiles import PROFILES, profile

    demo = profile("demo").make_rates(["SD1=0", "DQ08=0.01"])
    assert demo.SD1 == 0 and demo.DQ08 == 0.01  # --rate wins over the profile
    assert demo.OOS == PROFILES["demo"].rates["OOS"] != Rates().OOS  # the profile's own rate
    assert demo.DQ01 == Rates().DQ01  # untouched: the default
    assert profile("") is profile(None) is PROFILES["default"] and profile("").make_rates() == Rates()
    with pytest.raises(ValueError):
        profile("nope")
