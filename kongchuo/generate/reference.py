"""Reference data for the generator: the bundled townships and schools of the two seed districts, and
deterministic synthesis of extra schools when a large district needs more of them.

The bundled CSVs (``kongchuo/reference/townships.csv`` and ``schools.csv``) were written by
:func:`build_bundled` (``python -m kongchuo.generate.reference``). Township names are the real townships
and sub-districts of 许昌市建安区 and 宣城市宣州区; the 9-digit codes follow the 4110031xx style (0xx
sub-districts, 1xx towns, 2xx townships) and are not the official statistical codes. School names are
plausible, not real; school codes are 10-digit ``2`` + province (2) + district (3) + sequence (4).

Any other 6-digit county code (``410221``, ``411621`` ...) is synthesised on first use
(:func:`county_info`): a name from :mod:`kongchuo.districts` (or the code), 10-25 townships with invented
names and codes ``<county><kind><nn>``, ~9 schools per township with codes carrying the county, and
migrant-origin region codes ``<other province><county[2:]>`` (distinct for distinct counties of one
province, so counties generated apart never share an ID). Deterministic by the county code alone: the
reference data of a county does not depend on the generator seed. Used by the province generator
(:mod:`kongchuo.generate.province`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from kongchuo.districts import DISTRICT_NAMES
from kongchuo.settings import BUNDLED_REFERENCE

DISTRICTS: dict[str, dict] = {
    "411003": {
        "name": "建安区", "city": "许昌市", "short": "建安区",
        "townships": ["新元街道", "长村张街道", "五女店镇", "尚集镇", "苏桥镇", "蒋李集镇", "张潘镇", "灵井镇",
                      "将官池镇", "石固镇", "陈曹乡", "桂村乡", "椹涧乡", "小召乡", "河街乡", "榆林乡", "艾庄回族乡"],
        "village_suffix": ["庄", "营", "村", "寨", "楼", "店", "洼", "岗", "集", "桥"],
        "other_regions": ["411002", "411081", "411082", "411024", "411025", "410102", "410105", "411102",
                          "412702", "411423", "341202", "320311"],
    },
    "341802": {
        "name": "宣州区", "city": "宣城市", "short": "宣州区",
        "townships": ["西林街道", "澄江街道", "鳌峰街道", "济川街道", "敬亭山街道", "向阳街道", "水阳镇", "狸桥镇",
                      "沈村镇", "古泉镇", "洪林镇", "寒亭镇", "文昌镇", "孙埠镇", "杨柳镇", "水东镇", "新田镇",
                      "周王镇", "溪口镇", "五星乡", "黄渡乡", "养贤乡", "朱桥乡"],
        "village_suffix": ["冲", "埠", "桥", "岗", "湾", "圩", "村", "畈", "塘", "山"],
        "other_regions": ["341802", "341821", "341823", "341881", "340104", "340202", "342501", "330106",
                          "320106", "411003", "341524", "362302"][1:],
    },
}

BUNDLED = tuple(DISTRICTS)  # the districts in kongchuo/reference/*.csv

# provinces migrant children of a synthesised county come from (its own province skipped)
_MIGRANT_PROVINCES = ("34", "32", "42", "36", "37", "13", "14", "44", "51", "50", "52", "33", "35", "43", "61")
_NOT_PROVINCES = ("00", "10", "20", "30", "40", "70", "80", "90", "99")
_TOWN_HEADS = list("东西南北大小新老上下前后中高石白黄青柳杨桃李王张刘陈马龙凤双三五七古清长永安庆兴和平")
_TOWN_TAILS = list("集庄店桥岗寨营湖河山城坡楼口屯埠湾堂台铺沟镇关泉岭林")
_STREETS = ["城关", "东城", "西城", "南关", "北关", "新华", "人民", "解放", "建设", "文化", "和平", "滨河", "车站", "开发"]


def is_county_code(code: object) -> bool:
    """A 6-digit county-level region code (not a province ``xx0000`` or prefecture ``xxxx00`` code)."""
    c = str(code)
    return len(c) == 6 and c.isdigit() and c[:2] not in _NOT_PROVINCES and c[4:] != "00" and c[2:4] != "00"


def county_info(code: str) -> dict:
    """Generator info (name, city, short, township names, village suffixes, migrant origins) of any county:
    the bundled entry for the seed districts, else synthesised deterministically from the code."""
    if code in BUNDLED:
        return dict.__getitem__(DISTRICTS, code)
    if not is_county_code(code):
        raise KeyError(f"not a county code: {code!r}")

    name = DISTRICT_NAMES.get(code, f"县{code}")
    city = DISTRICT_NAMES.get(code[:4] + "00", "")
    rng = np.random.default_rng([int(code), 20])
    kind = name[-1]
    n_street, n_town, n_xiang = {"区": (5, 7, 1), "市": (4, 10, 3)}.get(kind, (2, 11, 5))
    n_street += int(rng.integers(0, 2))
    n_town += int(rng.integers(0, 3))
    n_xiang += int(rng.integers(0, 3))
    streets = [f"{s}街道" for s in rng.choice(_STREETS, n_street, replace=False)]
    seen: set[str] = set()
    rural: list[str] = []
    while len(rural) < n_town + n_xiang:
        stem = str(rng.choice(_TOWN_HEADS)) + str(rng.choice(_TOWN_TAILS))
        if stem not in seen:
            seen.add(stem)
            rural.append(stem + ("镇" if len(rural) < n_town else "乡"))
    others = [q + code[2:] for q in _MIGRANT_PROVINCES if q != code[:2]][:12]
    return {"name": name, "city": city, "short": name, "townships": streets + rural,
            "village_suffix": ["庄", "营", "村", "寨", "楼", "店", "洼", "岗", "集", "桥"], "other_regions": others,
            "synthesised": True}


class _Districts(dict):
    """The bundled districts; any other county code is synthesised on first use (``code in DISTRICTS`` is
    true for every county code, ``DISTRICTS[code]`` builds and keeps its info)."""

    def __missing__(self, code: str) -> dict:
        info = county_info(code)
        self[code] = info
        return info

    def __contains__(self, code: object) -> bool:
        return dict.__contains__(self, code) or is_county_code(code)


DISTRICTS = _Districts(DISTRICTS)

_VILLAGE_HEADS = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭田董袁潘蒋蔡杜程苏魏吕丁任姚卢姜崔") + [
    "大", "小", "东", "西", "南", "北", "前", "后", "新", "老", "双", "三", "五", "八", "石", "柳", "杏", "槐", "桑"]


def township_code(district: str, name: str, index_by_kind: int) -> str:
    kind = 0 if name.endswith("街道") else (1 if name.endswith("镇") else 2)
    return f"{district}{kind}{index_by_kind:02d}"


def school_code(district: str, seq: int) -> str:
    return f"2{district[:2]}{district[3:6]}{seq:04d}"


def _villages(rng: np.random.Generator, suffixes: list[str], n: int) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        v = rng.choice(_VILLAGE_HEADS) + rng.choice(_VILLAGE_HEADS[:40]) + rng.choice(suffixes)
        if v[0] != v[1] and v not in out:
            out.append(str(v))
    return out


def _district_reference(district: str, info: dict) -> tuple[list[tuple], list[tuple]]:
    """Townships and schools rows of one district (~120-150 schools), deterministic by the district code."""
    towns, schools = [], []
    rng = np.random.default_rng(int(district))
    counters = [1, 0, 0]
    seq = 1
    for name in info["townships"]:
        kind = 0 if name.endswith("街道") else (1 if name.endswith("镇") else 2)
        counters[kind] += 1 if kind else 0
        code = township_code(district, name, counters[kind] if kind else counters[0])
        if kind == 0:
            counters[0] += 1
        towns.append((code, name, district))
        short = info["short"]
        rows: list[tuple[str, str, bool]] = []
        if kind == 0:  # urban sub-district
            rows += [(f"{short}{name[:-2]}实验小学", "小学", False), (f"{short}{name[:-2]}第一小学", "小学", False),
                     (f"{short}{name[:-2]}第二小学", "小学", False), (f"{short}{name[:-2]}第三小学", "小学", False),
                     (f"{short}{name[:-2]}初级中学", "初中", False), (f"{short}{name[:-2]}实验学校", "九年一贯制", False),
                     (f"{short}{name[:-2]}第二初级中学", "初中", False)]
        else:
            villages = _villages(rng, info["village_suffix"], 8)
            rows += [(f"{short}{name}中心小学", "小学", kind != 1), (f"{name}第一初级中学", "初中", True),
                     (f"{name}第二初级中学", "初中", True)]
            rows += [(f"{name}{v}小学", "小学", True) for v in villages[:5]]
            rows += [(f"{name}{villages[5]}九年一贯制学校", "九年一贯制", True)]
        for sname, stage, rural in rows:
            schools.append((school_code(district, seq), sname, code, stage, "true" if rural else "false"))
            seq += 1
    return towns, schools


TOWN_COLUMNS = ["township_code", "township_name", "district_code"]
SCHOOL_COLUMNS = ["school_code", "school_name", "township_code", "stage", "is_rural"]


def build_bundled(dest: Path = BUNDLED_REFERENCE) -> None:
    """Write the bundled townships.csv and schools.csv (deterministic; ~120-150 schools per district)."""
    towns, schools = [], []
    for district in BUNDLED:
        t, s = _district_reference(district, DISTRICTS[district])
        towns += t
        schools += s
    dest.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(towns, columns=TOWN_COLUMNS).to_csv(dest / "townships.csv", index=False, lineterminator="\n")
    pd.DataFrame(schools, columns=SCHOOL_COLUMNS).to_csv(dest / "schools.csv", index=False, lineterminator="\n")


def load(district: str, reference_dir: Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Townships and schools of one district (all columns as text, is_rural as bool)."""
    base = reference_dir or BUNDLED_REFERENCE
    towns = pd.read_csv(base / "townships.csv", dtype=str)
    schools = pd.read_csv(base / "schools.csv", dtype=str)
    towns = towns[towns["district_code"] == district].reset_index(drop=True)
    if towns.empty and district not in BUNDLED and is_county_code(district):  # synthesised county
        t, s = _district_reference(district, DISTRICTS[district])
        towns = pd.DataFrame(t, columns=TOWN_COLUMNS, dtype=object)
        schools = pd.DataFrame(s, columns=SCHOOL_COLUMNS, dtype=object)
    if towns.empty:
        raise ValueError(f"no reference townships for district {district}")
    schools = schools[schools["township_code"].isin(towns["township_code"])].reset_index(drop=True)
    schools["is_rural"] = schools["is_rural"].str.lower().eq("true")
    return towns, schools


STAGE_GRADES = {"小学": (1, 6), "初中": (7, 9), "九年一贯制": (1, 9)}


def select_schools(district: str, students: int, rng: np.random.Generator,
                   per_school: int = 900) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pick (and if needed synthesise) enough schools for ``students``: about ``per_school`` each.

    ``per_school=0``: every reference school of the district (none synthesised; the demo sample, so that each
    school of the bundled reference reports something).

    Returns (townships, all reference schools incl. synthesised ones, selected schools in file order).
    """
    towns, schools = load(district)
    if per_school <= 0:
        want = {stage: int((schools["stage"] == stage).sum()) for stage in ("初中", "九年一贯制", "小学")}
    else:
        n = max(5, math.ceil(students / per_school))
        want = {"初中": max(1, round(n * 0.27)), "九年一贯制": max(1, round(n * 0.08))}
        want["小学"] = n - want["初中"] - want["九年一贯制"]
    town_order = list(towns["township_code"].to_numpy()[rng.permutation(len(towns))])
    rank = {t: i for i, t in enumerate(town_order)}
    extra_rows = []
    next_seq = 5000
    chosen = []
    tname = dict(zip(towns["township_code"], towns["township_name"]))
    for stage, k in want.items():
        pool = schools[schools["stage"] == stage].copy()
        pool["r"] = pool["township_code"].map(rank)
        pool["within"] = pool.groupby("township_code").cumcount()
        pool = pool.sort_values(["within", "r"], kind="stable")
        picked = pool.head(k)
        chosen.append(picked)
        missing = k - len(picked)
        if missing > 0:  # synthesise: round-robin over townships, numbered schools
            idx = np.arange(missing)
            tcodes = np.array(town_order)[idx % len(town_order)]
            nums = idx // len(town_order) + 3
            suffix = {"小学": "小学", "初中": "初级中学", "九年一贯制": "九年一贯制学校"}[stage]
            syn = pd.DataFrame({
                "school_code": [school_code(district, next_seq + i) for i in idx],
                "school_name": [f"{tname[t]}第{_cn_num(int(m))}{suffix}" for t, m in zip(tcodes, nums)],
                "township_code": tcodes, "stage": stage,
                "is_rural": [not tname[t].endswith("街道") for t in tcodes],
            })
            next_seq += missing
            extra_rows.append(syn)
            chosen.append(syn)
    sel = pd.concat(chosen, ignore_index=True)[["school_code", "school_name", "township_code", "stage", "is_rural"]]
    sel["r"] = sel["township_code"].map(rank)
    sel = sel.sort_values(["r", "school_code"], kind="stable").drop(columns="r").reset_index(drop=True)
    allschools = pd.concat([schools, *extra_rows], ignore_index=True)[list(sel.columns)]
    return towns, allschools, sel


_DIGITS = "零一二三四五六七八九"


def _cn_num(n: int) -> str:
    if n < 10:
        return _DIGITS[n]
    if n < 20:
        return "十" + (_DIGITS[n % 10] if n % 10 else "")
    if n < 100:
        return _DIGITS[n // 10] + "十" + (_DIGITS[n % 10] if n % 10 else "")
    return str(n)


if __name__ == "__main__":
    build_bundled()
