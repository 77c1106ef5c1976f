"""Source specs (DESIGN.md, Sources): canonical columns, accepted Chinese header aliases, required
columns and value vocabularies. One place for every header alias and code list.

Canonical values (what staged tables hold):
- gender: 'M' / 'F'
- registry status: active (在读/在籍/转入), suspended (休学; 保留学籍 too: the school keeps the record of a
  pupil who is away on approved grounds, which DESIGN.md counts as not a dropout), transferred_out (转出),
  dropped_out (辍学; 退学 too: compulsory education has no lawful withdrawal, so a pupil who "left school"
  is a dropout to follow up), graduated (毕业), deceased (死亡)
- attendance status: present (出勤, √/✓, 迟到/早退: the child was in school) / sick_leave (病假, 病) /
  personal_leave (事假, 事; a 请假 without a 请假类型 too: leave is excused, 事假 is the ordinary kind) /
  unexcused (旷课, 旷)
- census residence_status: resident (在户; 正常 in public-security extracts) / away (外出) / moved_out (迁出;
  注销 with 注销原因 迁出/出国/出境) / deceased (死亡; 注销 with 注销原因 死亡); 注销 without a known reason is
  left NULL (the raw text stays: DQ03 lists it)
- casework result: returned (已返校) / not_returned (未返校)
- exemption kind: deferral (延缓入学, 缓学) / suspension (休学)
- flags: 是/否, Y/N, 1/0, 有/无, and the national export's words (单亲留守/双亲留守[儿童] → true,
  非留守[儿童] → false; 残疾/非残疾, 随迁子女/非随迁子女 ...)

Columns in a spec's ``inputs`` are read only to derive a staged column (attendance 请假/请假类型 →
status; census 注销原因 → residence_status, 户籍地址/户籍区划 → township_code; exemptions 缓学期限 →
approved_on/valid_until); :data:`SourceSpec.substitutes` says which of them stand in for a required column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text | id | date | int | float | bool | code
    aliases: tuple[str, ...]
    label: str  # Chinese label for people
    vocabulary: dict[str, str] = field(default_factory=dict)  # raw value -> canonical code (kind == code)


@dataclass(frozen=True)
class SourceSpec:
    name: str
    label: str
    columns: tuple[Column, ...]
    required: tuple[str, ...]
    # at least one of these must be present (e.g. registry needs id_number or student_no)
    one_of: tuple[str, ...] = ()
    # a required column may be absent when one of these columns is present (it is derived from them)
    substitutes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # columns read only to derive staged columns (never stored themselves; see the module docstring)
    inputs: tuple[Column, ...] = ()

    def column(self, name: str) -> Column:
        return next(c for c in (*self.columns, *self.inputs) if c.name == name)

    @property
    def alias_map(self) -> dict[str, str]:
        """Normalised header text -> canonical column name (canonical names map to themselves)."""
        out: dict[str, str] = {}
        for col in (*self.columns, *self.inputs):
            for alias in (col.name, col.label, *col.aliases):
                out[normalize_header(alias)] = col.name
        return out

    @property
    def alias_labels(self) -> dict[str, str]:
        """Normalised header text -> the alias as people write it (for "did you mean" hints)."""
        out: dict[str, str] = {}
        for col in (*self.columns, *self.inputs):
            for alias in (col.label, *col.aliases):
                out.setdefault(normalize_header(alias), alias)
        return out

    def satisfied(self, required: str, present: set[str] | dict[str, int]) -> bool:
        return required in present or any(c in present for c in self.substitutes.get(required, ()))


# Required-field marks and notes that decorate headers in templates: ★姓名, 姓名*, 姓名（必填）, 姓名\n(选填).
_HEADER_MARKS = re.compile(r"^[★☆*＊※]+|[★☆*＊※]+$")
_HEADER_NOTES = re.compile(r"\((?:必填|选填|必填项|选填项|可选|非必填)\)")
_HEADER_SPACE = re.compile(r"[\s\u3000\ufeff\u200b]+")


def normalize_header(text: str) -> str:
    """Headers compare without whitespace (line breaks included), BOMs, full-width brackets, ``★``/``*``
    required marks before or after the name, and ``（必填）``/``（选填）`` notes."""
    t = _HEADER_SPACE.sub("", str(text)).replace("（", "(").replace("）", ")")
    t = _HEADER_NOTES.sub("", t)
    return _HEADER_MARKS.sub("", t).lower()


GENDER = {"男": "M", "女": "F", "1": "M", "2": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
FLAG = {"是": True, "否": False, "y": True, "n": False, "1": True, "0": False, "true": True, "false": False,
        "有": True, "无": False, "yes": True, "no": False, "√": True, "✓": True, "×": False,
        # the national registry's 是否留守儿童 answers, and the like for the other flags
        "单亲留守": True, "双亲留守": True, "单亲留守儿童": True, "双亲留守儿童": True, "留守": True,
        "留守儿童": True, "非留守": False, "非留守儿童": False, "残疾": True, "非残疾": False,
        "随迁子女": True, "非随迁子女": False, "进城务工人员随迁子女": True, "脱贫户": True, "脱贫家庭": True,
        "建档立卡户": True, "非脱贫户": False, "困境儿童": True, "非困境儿童": False}
REGISTRY_STATUS = {"在读": "active", "在籍": "active", "转入": "active", "休学": "suspended", "保留学籍": "suspended",
                   "转出": "transferred_out", "辍学": "dropped_out", "退学": "dropped_out", "毕业": "graduated",
                   "死亡": "deceased"}
ATTENDANCE_STATUS = {"出勤": "present", "病假": "sick_leave", "事假": "personal_leave", "旷课": "unexcused",
                     "present": "present", "sick_leave": "sick_leave", "personal_leave": "personal_leave",
                     "unexcused": "unexcused", "到": "present", "缺勤": "unexcused", "迟到": "present",
                     "早退": "present", "迟": "present", "早": "present", "旷": "unexcused", "病": "sick_leave",
                     "事": "personal_leave", "√": "present", "✓": "present", "✔": "present", "○": "present",
                     "请假": "personal_leave"}
LEAVE_TYPE = {"病假": "sick_leave", "病": "sick_leave", "事假": "personal_leave", "事": "personal_leave"}
RESIDENCE_STATUS = {"在户": "resident", "外出": "away", "迁出": "moved_out", "死亡": "deceased", "正常": "resident"}
# 注销 (record cancelled) means moved out or dead: the reason says which (kongchuo.normalize).
CANCELLED = "注销"
CANCEL_REASON = {"迁出": "moved_out", "出国": "moved_out", "出境": "moved_out", "出国(境)": "moved_out",
                 "迁往外地": "moved_out", "死亡": "deceased", "宣告死亡": "deceased"}
CASE_METHOD = {"上门": "visit", "电话": "phone", "联合劝返": "joint", "司法文书": "legal_notice"}
CASE_RESULT = {"已返校": "returned", "未返校": "not_returned"}
DROPOUT_REASON = {v: v for v in ("厌学", "家庭经济困难", "外出务工", "疾病", "残疾", "早婚", "宗教", "其他")}
EXEMPTION_KIND = {"延缓入学": "deferral", "缓学": "deferral", "缓入学": "deferral", "延缓入学申请": "deferral",
                  "休学": "suspension", "休学申请": "suspension"}

# Labels back to Chinese for reports.
REGISTRY_STATUS_LABEL = {"active": "在读", "suspended": "休学", "transferred_out": "转出", "dropped_out": "辍学",
                         "graduated": "毕业", "deceased": "死亡"}

_ID = ("身份证件号", "身份证号", "身份证号码", "公民身份号码", "证件号码", "身份证件号码")
_NAME = ("姓名", "学生姓名", "儿童姓名")
_GENDER = ("性别",)
_BIRTH = ("出生日期", "出生年月日", "生日")
_DISABLED = ("残疾", "是否残疾", "残疾儿童", "是否残疾儿童")
_DISABILITY_GRADE = ("残疾等级",)
_POVERTY = ("脱贫家庭", "建档立卡", "是否脱贫家庭", "建档立卡户", "是否建档立卡")
_TOWNSHIP = ("乡镇代码", "乡镇(街道)代码", "乡镇街道代码")
# 个人标识码 is the national standard's name of the 19-character G/J/L number; 学籍辅号 is a different,
# school-assigned number (registry column aux_student_no), never student_no.
_STUDENT_NO = ("全国学籍号", "学籍号", "个人标识码", "全国学籍号(个人标识码)")
_SCHOOL = ("学校标识码", "学校代码", "学校识别码")


def _c(name: str, kind: str, label: str, *aliases: str, vocab: dict | None = None) -> Column:
    return Column(name, kind, tuple(aliases), label, vocab or {})


REGISTRY = SourceSpec(
    "registry", "学籍",
    (
        _c("student_no", "text", "全国学籍号", *_STUDENT_NO),
        _c("aux_student_no", "text", "学籍辅号", "学籍辅号码"),
        _c("id_number", "id", "身份证件号", *_ID),
        _c("name", "text", "姓名", *_NAME),
        _c("gender", "code", "性别", *_GENDER, vocab=GENDER),
        _c("birth_date", "date", "出生日期", *_BIRTH),
        _c("school_code", "text", "学校标识码", *_SCHOOL),
        _c("school_name", "text", "学校名称", "学校", "就读学校"),
        _c("grade", "int", "年级", "所在年级", "年级名称"),
        _c("class_name", "text", "班级", "班级名称", "所在班级"),
        _c("status", "code", "学籍状态", "学生状态", "在籍状态", vocab=REGISTRY_STATUS),
        _c("enrolled_on", "date", "入学日期", "入学年月", "入学时间"),
        # the date of the record's last status change (转出 ...): SD3 dates a transfer by it (DESIGN.md)
        _c("change_date", "date", "变动日期", "异动日期", "异动时间", "变动时间", "学籍变动日期", "学籍异动日期"),
        _c("hukou_region_code", "text", "户口所在地区划", "户籍所在地", "户口所在地行政区划", "户口所在地"),
        _c("township_code", "text", "乡镇代码", *_TOWNSHIP),
        _c("is_poverty_family", "bool", "脱贫家庭", *_POVERTY, vocab=FLAG),
        _c("is_left_behind", "bool", "留守儿童", "是否留守儿童", vocab=FLAG),
        _c("is_migrant", "bool", "随迁子女", "流动儿童", "是否随迁子女", "进城务工人员随迁子女",
           "是否进城务工人员随迁子女", "是否流动儿童", vocab=FLAG),
        _c("is_disabled", "bool", "残疾", *_DISABLED, vocab=FLAG),
        _c("disability_grade", "text", "残疾等级", *_DISABILITY_GRADE),
        _c("is_in_difficulty", "bool", "困境儿童", "是否困境儿童", vocab=FLAG),
        # the national export lists family members: 成员1 is the first guardian
        _c("guardian_name", "text", "监护人", "监护人姓名", "成员1姓名", "监护人1姓名"),
        _c("guardian_phone", "text", "联系电话", "监护人电话", "监护人联系电话", "成员1联系电话", "监护人1联系电话"),
    ),
    required=("name", "gender", "birth_date", "school_code", "grade", "status"),
    one_of=("id_number", "student_no"),
)

ATTENDANCE = SourceSpec(
    "attendance", "考勤",
    (
        _c("student_no", "text", "全国学籍号", *_STUDENT_NO),
        _c("id_number", "id", "身份证件号", *_ID),
        _c("school_code", "text", "学校标识码", *_SCHOOL),
        _c("date", "date", "日期", "考勤日期", "点名日期"),
        _c("status", "code", "考勤状态", "出勤情况", "出勤状态", vocab=ATTENDANCE_STATUS),
    ),
    inputs=(
        _c("on_leave", "bool", "是否请假", "请假", "请假情况", vocab=FLAG),
        _c("leave_type", "code", "请假类型", "请假类别", vocab=LEAVE_TYPE),
        _c("name", "text", "姓名", *_NAME),  # month grids: helps find the header, never stored
        _c("year_month", "date", "年月", "考勤年月", "月份"),  # month grids
    ),
    required=("school_code", "date", "status"),
    one_of=("id_number", "student_no"),
    substitutes={"status": ("on_leave", "leave_type")},
)

CENSUS = SourceSpec(
    "census", "户籍人口",
    (
        _c("id_number", "id", "身份证号码", *_ID),
        _c("name", "text", "姓名", *_NAME),
        _c("gender", "code", "性别", *_GENDER, vocab=GENDER),
        _c("birth_date", "date", "出生日期", *_BIRTH),
        _c("township_code", "text", "乡镇代码", *_TOWNSHIP),
        _c("village", "text", "村(社区)", "村居", "村(居)委会", "所在村"),
        _c("residence_status", "code", "居住状态", "人口状态", "户籍状态", "人员状态", "户口状态",
           vocab=RESIDENCE_STATUS),
        _c("is_disabled", "bool", "残疾", *_DISABLED, vocab=FLAG),
        _c("disability_grade", "text", "残疾等级", *_DISABILITY_GRADE),
        _c("is_poverty_family", "bool", "脱贫家庭", *_POVERTY, vocab=FLAG),
    ),
    inputs=(
        _c("cancel_reason", "code", "注销原因", "注销类别", "注销原因类别", vocab=CANCEL_REASON),
        _c("address", "text", "户籍地址", "户籍详址", "户籍详细地址", "住址", "户籍住址"),
        _c("region_code", "text", "户籍区划", "户籍地区划", "户籍区划代码", "行政区划代码"),
    ),
    required=("id_number", "name", "gender", "birth_date", "township_code", "residence_status"),
    substitutes={"township_code": ("address", "region_code")},
)

CASEWORK = SourceSpec(
    "casework", "劝返记录",
    (
        _c("id_number", "id", "身份证件号", *_ID),
        _c("attempt_date", "date", "劝返日期", "劝返时间"),
        _c("method", "code", "劝返方式", vocab=CASE_METHOD),
        _c("unit", "text", "劝返单位", "责任单位"),
        _c("result", "code", "劝返结果", "是否返校", vocab=CASE_RESULT),
        _c("dropout_reason", "code", "辍学原因", vocab=DROPOUT_REASON),
    ),
    required=("id_number", "attempt_date", "result"),
)

EXEMPTIONS = SourceSpec(
    "exemptions", "延缓入学/休学",
    (
        _c("id_number", "id", "身份证件号", *_ID),
        _c("kind", "code", "类型", "审批类型", "申请类型", "申请类别", "类别", vocab=EXEMPTION_KIND),
        _c("approved_on", "date", "批准日期", "审批日期", "批准时间", "审批时间"),
        _c("valid_until", "date", "有效期至", "截止日期"),
        _c("reason", "text", "原因", "申请原因"),
        _c("approved_by", "text", "批准单位", "审批单位"),
    ),
    inputs=(
        _c("term", "text", "缓学期限", "延缓期限", "延缓入学期限", "休学期限", "期限"),
    ),
    required=("id_number", "kind", "approved_on", "valid_until"),
    substitutes={"approved_on": ("term",), "valid_until": ("term",)},
)

HOME_TEACHING = SourceSpec(
    "home_teaching", "送教上门",
    (
        _c("id_number", "id", "身份证件号", *_ID),
        _c("visit_date", "date", "送教日期", "送教时间"),
        _c("class_hours", "float", "课时", "送教课时"),
        _c("teacher", "text", "送教教师", "教师"),
    ),
    required=("id_number", "visit_date", "class_hours"),
)

SPECS: dict[str, SourceSpec] = {s.name: s for s in (REGISTRY, ATTENDANCE, CENSUS, CASEWORK, EXEMPTIONS, HOME_TEACHING)}

# Chinese numerals and junior-middle names for grades (初一 = 7 ... 初三 = 9).
GRADE_WORDS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
               "初一": 7, "初二": 8, "初三": 9}
