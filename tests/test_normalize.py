"""Value normalisation and header resolution: pure functions, no warehouse."""

import datetime as dt

import pandas as pd
import pytest

from kongchuo import idnumber
from kongchuo.normalize import (
    normalize_frame,
    normalize_student_no,
    parse_codes,
    parse_dates,
    parse_flags,
    parse_grades,
    parse_numbers,
)
from kongchuo.readers import IngestError, column_letter, id_lost_to_number, note_kind, resolve_header
from kongchuo.sources import GENDER, REGISTRY_STATUS, SPECS
from warehouse.layout import staged_columns

pytestmark = pytest.mark.fast  # make check

D = dt.date(2010, 3, 5)


def text(values):
    return pd.Series(values, dtype="str")


@pytest.mark.parametrize("raw", [
    "2010-03-05", "2010/3/5", "20100305", "2010年3月5日", "2010.3.5", "2010-3-5", " 2010/03/05 ",
    "2010-03-05 00:00:00", "2010-03-05T08:30:00", "40242", "40242.0", "２０１０－０３－０５", "2010年03月05日",
])
def test_every_date_style(raw):
    assert parse_dates(text([raw])).iloc[0] == D


@pytest.mark.parametrize("raw,expected", [("2019-09", dt.date(2019, 9, 1)), ("201909", dt.date(2019, 9, 1)),
                                          ("2019年9月", dt.date(2019, 9, 1))])
def test_year_month_is_the_first(raw, expected):
    assert parse_dates(text([raw])).iloc[0] == expected


@pytest.mark.parametrize("raw", ["2010-02-31", "2010-13-01", "garbage", "", "1800-01-01", "0", "不详"])
def test_bad_dates_are_null_not_errors(raw):
    assert pd.isna(parse_dates(text([raw])).iloc[0])


def test_dates_from_objects_and_nulls():
    out = parse_dates(pd.Series([D, dt.datetime(2010, 3, 5, 12, 0), None], dtype=object))
    assert out.iloc[0] == D and out.iloc[1] == D and pd.isna(out.iloc[2])


def test_dates_are_vectorised_over_distinct_values():
    s = text(["2026-05-06", "2026/5/7", None] * 100_000)
    out = parse_dates(s)
    assert out.notna().sum() == 200_000 and out.iloc[1] == dt.date(2026, 5, 7)


@pytest.mark.parametrize("raw,grade", [
    ("3", 3), ("03", 3), ("3年级", 3), ("三年级", 3), ("初一", 7), ("初二", 8), ("初三", 9), ("七年级", 7),
    ("九年级", 9), ("初中二年级", 8), ("初3", 9), (" 6 ", 6), ("６", 6), ("一年级", 1),
])
def test_grades(raw, grade):
    assert parse_grades(text([raw])).iloc[0] == grade


@pytest.mark.parametrize("raw", ["高一", "10", "0", "x", None])
def test_bad_grades_are_null(raw):
    assert pd.isna(parse_grades(text([raw])).iloc[0])


def test_flags():
    out = parse_flags(text(["是", "否", "Y", "n", "1", "0", "TRUE", None, " 是 ", "不详"]))
    assert out.iloc[:9].tolist() == [True, False, True, False, True, False, True, False, True]
    assert pd.isna(out.iloc[9])


def test_gender_and_status_codes():
    assert parse_codes(text(["男", "女", "1", "2", " 男 ", "M", "f", "?"]), GENDER).tolist()[:7] == \
        ["M", "F", "M", "F", "M", "M", "F"]
    assert pd.isna(parse_codes(text(["?"]), GENDER).iloc[0])
    assert parse_codes(text(["在读", "在籍", "转入", "休学", "辍学", "active"]), REGISTRY_STATUS).tolist() == \
        ["active", "active", "active", "suspended", "dropped_out", "active"]


def test_class_hours():
    assert parse_numbers(text(["3", "3.5", "3课时", "２"])).tolist() == [3.0, 3.5, 3.0, 2.0]
    assert pd.isna(parse_numbers(text(["三"])).iloc[0])


def test_student_numbers():
    out = normalize_student_no(text([" ｇ４１１００３ ", "l123 456", ""]))
    assert out.iloc[0] == "G411003" and out.iloc[1] == "L123456" and pd.isna(out.iloc[2])


def test_id_numbers_full_width_spaces_lower_x():
    valid = idnumber.make_id("411003", D, 7)
    variants = [valid.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),
                f" {valid[:6]} {valid[6:14]} {valid[14:]} ", valid.replace("X", "x"), valid]
    frame = normalize_frame(SPECS["census"], pd.DataFrame({"id_number": variants}, dtype="str"))
    assert (frame["id_number"] == valid).all()
    assert frame["id_number_raw"].tolist() == variants  # raw kept as delivered


def test_frame_has_exactly_the_staged_columns_and_defaults():
    cells = pd.DataFrame({"id_number": ["1"], "name": ["张三"], "row_no": [2], "file_sha": ["ab"]})
    frame = normalize_frame(SPECS["registry"], cells.astype({"id_number": "str", "name": "str"}))
    assert list(frame.columns) == staged_columns("registry")
    assert frame["is_poverty_family"].iloc[0] is False or frame["is_poverty_family"].iloc[0] == False  # noqa: E712
    assert pd.isna(frame["birth_date"].iloc[0]) and pd.isna(frame["birth_date_raw"].iloc[0])


def test_unknown_code_keeps_raw():
    frame = normalize_frame(SPECS["attendance"], pd.DataFrame({"status": ["补课", "旷课"]}, dtype="str"))
    assert pd.isna(frame["status"].iloc[0]) and frame["status_raw"].iloc[0] == "补课"
    assert frame["status"].iloc[1] == "unexcused"


# --- headers ----------------------------------------------------------------------------------------

ALIASES = [(source, col.name, alias) for source, spec in SPECS.items() for col in spec.columns
           for alias in (col.label, *col.aliases)]


@pytest.mark.parametrize("source,column,alias", ALIASES, ids=[f"{s}-{c}-{a}" for s, c, a in ALIASES])
def test_every_alias_maps(source, column, alias):
    spec = SPECS[source]
    others = [c for c in (*spec.required, *spec.one_of[:1]) if c != column]
    header = [*others[:1], f" {alias}* ", *others[1:]]  # spaces and a trailing required-marker are tolerated
    _, header_map, positions, _ = resolve_header([["导出标题"], header], spec, "x.csv")
    assert header_map[f"{alias}*"] == column
    assert positions[column] == header.index(f" {alias}* ")


def test_duplicate_column_names_both():
    spec = SPECS["census"]
    head = [["身份证号", "姓名", "性别", "出生日期", "乡镇代码", "居住状态", "公民身份号码"]]
    with pytest.raises(IngestError) as err:
        resolve_header(head, spec, "c.csv")
    msg = str(err.value)
    assert "c.csv" in msg and "row 1" in msg and "'身份证号'" in msg and "'公民身份号码'" in msg
    assert "columns A and G" in msg


def test_missing_required_and_one_of():
    with pytest.raises(IngestError) as err:
        resolve_header([["title"], ["学籍号", "姓名", "性别", "学校标识码", "年级", "学籍状态"]],
                       SPECS["registry"], "r.csv")
    assert str(err.value).startswith("r.csv：第 2 行（表头），A–F 列：缺少必填列：出生日期（birth_date）；找到的表头：「学籍号」")
    with pytest.raises(IngestError, match="缺少必填列：身份证件号或全国学籍号（id_number/student_no）"):
        resolve_header([["姓名", "性别", "出生日期", "学校标识码", "年级", "学籍状态"]], SPECS["registry"], "r.csv")


def test_missing_columns_named_at_once_with_nearest_alias():
    """Every missing required column in one message, the headers found, and the nearest known name."""
    head = [["学籍_xx 导出"], ["", ""], ["全国学籍号", "姓名", "性别", "出生日期", "学校标识码", "学藉状态", "所在年纪"]]
    with pytest.raises(IngestError) as err:
        resolve_header(head, SPECS["registry"], "学籍_xx.xlsx")
    assert str(err.value) == (
        "学籍_xx.xlsx：第 3 行（表头），A–G 列：缺少必填列：年级（grade）、学籍状态（status）；找到的表头：「全国学籍号」、"
        "「姓名」、「性别」、「出生日期」、「学校标识码」、「学藉状态」、「所在年纪」；「学藉状态」可能是「学籍状态」；「所在年纪」可能是「所在年级」")


def test_no_header_row():
    with pytest.raises(IngestError) as err:
        resolve_header([["x", "y"], ["1", "2"]], SPECS["attendance"], "a.csv")
    assert str(err.value).startswith("a.csv：第 1–2 行（未找到表头：没有一行含两个以上考勤列名），A–B 列：缺少必填列：学校标识码（school_code）、"
                                     "日期（date）、考勤状态（status）、身份证件号或全国学籍号（id_number/student_no）；找到的表头：（无）"
                                     "（另有 2 个不像列名的单元格，未列出）")


def test_no_header_message_never_quotes_data_cells():
    """A sheet of pupils without a header: the 'found headers' would be a data row; only header-like cells
    are named (names and ID numbers never are)."""
    row = ["张小明", idnumber.make_id("411003", dt.date(2011, 1, 1), 5), "男", "学藉状态"]
    with pytest.raises(IngestError) as err:
        resolve_header([row, row], SPECS["registry"], "r.csv")
    msg = str(err.value)
    assert "张小明" not in msg and row[1] not in msg and "「学藉状态」可能是「学籍状态」" in msg
    assert "（另有 3 个不像列名的单元格，未列出）" in msg


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]


# --- encodings --------------------------------------------------------------------------------------

def test_encoding_detection(tmp_path):
    from kongchuo.readers import detect_encoding

    text = "姓名,性别\n张三,男\n"
    cases = {"u.csv": text.encode("utf-8"), "b.csv": b"\xef\xbb\xbf" + text.encode("utf-8"),
             "g.csv": text.encode("gbk"), "a.csv": b"a,b\n1,2\n"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    assert [detect_encoding(tmp_path / n) for n in cases] == ["utf-8", "utf-8-sig", "gb18030", "utf-8"]
    (tmp_path / "bad.csv").write_bytes("姓名,性别\n".encode("gbk") + b"x,y\nz,\xff\xff\n")
    with pytest.raises(IngestError, match=r"bad\.csv: row 3, column B: .* neither UTF-8 nor GB18030"):
        detect_encoding(tmp_path / "bad.csv")


# --- real export words (REAL_EXPORTS.md) -------------------------------------------------------------------

def test_flag_words_of_the_national_export():
    raw = pd.Series(["单亲留守", "双亲留守", "单亲留守儿童", "双亲留守儿童", "非留守", "非留守儿童", "是", "否", None, "不详"],
                    dtype="str")
    frame = normalize_frame(SPECS["registry"], pd.DataFrame({"is_left_behind": raw}))
    assert frame["is_left_behind"].tolist()[:9] == [True, True, True, True, False, False, True, False, False]
    assert pd.isna(frame["is_left_behind"].iloc[9]) and frame["is_left_behind_raw"].iloc[9] == "不详"
    assert frame["is_left_behind_raw"].iloc[0] == "单亲留守" and pd.isna(frame["is_left_behind_raw"].iloc[8])


def test_registry_status_words():
    words = ["在籍", "在读", "休学", "保留学籍", "转出", "转入", "退学", "辍学", "毕业", "死亡"]
    frame = normalize_frame(SPECS["registry"], pd.DataFrame({"status": pd.Series(words, dtype="str")}))
    assert frame["status"].tolist() == ["active", "active", "suspended", "suspended", "transferred_out", "active",
                                        "dropped_out", "dropped_out", "graduated", "deceased"]


def test_national_codes_dates_and_gender():
    cells = pd.DataFrame({"birth_date": ["20110101"], "enrolled_on": ["201409"], "gender": ["2"]}, dtype="str")
    frame = normalize_frame(SPECS["registry"], cells)
    assert str(frame["birth_date"].iloc[0]) == "2011-01-01" and str(frame["enrolled_on"].iloc[0]) == "2014-09-01"
    assert frame["gender"].iloc[0] == "F"


@pytest.mark.parametrize("cells,kind", [
    (["合计", "", "12"], "合计"), (["合  计", "12"], "合计"), (["", "总计：", "3"], "总计"), (["小计"], "小计"),
    (["填表人：王老师", "", "审核人：李"], "填表人"), (["审核人：李"], "审核人"), (["复核人（签名）："], "复核人"),
    (["制表：教务处"], "制表"), (["制表日期：2026年9月"], "制表"), (["说明：1.本表……"], "说明"),
    (["", "本页合计", "3人"], "合计"), ([], None), (["", "  "], None), (["王小明", "合计"], "合计"),
    (["1", "七年级"], None), (["注：留守儿童填是否"], "注"),
])
def test_note_kind(cells, kind):
    assert note_kind(cells, has_name=False) == kind


def test_total_word_in_a_later_cell_with_a_name_is_a_record():
    assert note_kind(["1", "合计村", "张*"], has_name=True) is None


def test_ids_lost_to_excel_numbers():
    ok = idnumber.make_id("411003", dt.date(2011, 1, 1), 201)
    cut = ok[:15] + "000"
    ids = pd.Series(["4.11003E+17", "4.11003201101012E+17", cut, ok, "123", None, "4,11003E+17"], dtype="str")
    # a lone 18-digit ID ending 000 is checked like any other ID (DQ01), whatever its check digit
    assert id_lost_to_number(ids).tolist() == [True, True, False, False, False, False, False]


def test_a_column_of_ids_ending_000_went_through_a_number():
    ids = [idnumber.make_id("411003", dt.date(2011, 1, 1), i)[:15] + "000" for i in range(201, 205)]
    assert id_lost_to_number(pd.Series(ids, dtype="str")).tolist() == [True] * 4  # check digits right or not
