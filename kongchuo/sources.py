"""Source specs (DESIGN.md, Sources): canonical columns, accepted Chinese header aliases, required
columns and value vocabularies. One place for every header alias and code list.

Canonical values (what staged tables hold):
- gender: 'M' / 'F'
- registry status: active (在读/在籍/转入), suspended (休学), transferred_out (转出), dropped_out (辍学),
  graduated (毕业), deceased (死亡)
- attendance status: present / sick_leave / personal_leave / unexcused
- census residence_status: resident (在户) / away (外出) / moved_out (迁出) / deceased (死亡)
- casework result: returned (已返校) / not_returned (未返校)
- exemption kind: deferral (延缓入学) / suspension (休学)
"""

from __future__ import annotations

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

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def alias_map(self) -> dict[str, str]:
        """Normalised header text -> canonical column name (canonical names map to themselves)."""
        out: dict[str, str] = {}
        for col in self.columns:
            for alias in (col.name, col.label, *col.aliases):
                out[normalize_header(alias)] = col.name
        return out


def normalize_header(text: str) -> str:
    """Headers compare without spaces, BOMs, full-width brackets or trailing '*' markers."""
    t = str(text).replace("\ufeff", "").strip().replace(" ", "").replace("\u3000", "")
    t = t.replace("（", "(").replace("）", ")").rstrip("*＊").lower()
    return t


GENDER = {"男": "M", "女": "F", "1": "M", "2": "F", "m": "M", "f": "F", "male": "M", "female": "F"}
FLAG = {"是": True, "否": False, "y": True, "n": False, "1": True, "0": False, "true": True, "false": False,
        "有": True, "无": False, "yes": True, "no": False}
REGISTRY_STATUS = {"在读": "active", "在籍": "active", "转入": "active", "休学": "suspended", "转出": "transferred_out",
                   "辍学": "dropped_out", "毕业": "graduated", "死亡": "deceased"}
ATTENDANCE_STATUS = {"出勤": "present", "病假": "sick_leave", "事假": "personal_leave", "旷课": "unexcused",
                     "present": "present", "sick_leave": "sick_leave", "personal_leave": "personal_leave",
                     "unexcused": "unexcused", "到": "present", "缺勤": "unexcused"}
RESIDENCE_STATUS = {"在户": "resident", "外出": "away", "迁出": "moved_out", "死亡": "deceased"}
CASE_METHOD = {"上门": "visit", "电话": "phone", "联合劝返": "joint", "司法文书": "legal_notice"}
CASE_RESULT = {"已返校": "returned", "未返校": "not_returned"}
DROPOUT_REASON = {v: v for v in ("厌学", "家庭经济困难", "外出务工", "疾病", "残疾", "早婚", "宗教", "其他")}
EXEMPTION_KIND = {"延缓入学": "deferral", "休学": "suspension"}

# Labels back to Chinese for reports.
REGISTRY_STATUS_LABEL = {"active": "在读", "suspended": "休学", "transferred_out": "转出", "dropped_out": "辍学",
                         "graduated": "毕业", "deceased": "死亡"}

_ID = ("身份证件号", "身份证号", "身份证号码", "公民身份号码", "证件号码", "身份证件号码")
_NAME = ("姓名", "学生姓名", "儿童姓名")
_GENDER = ("性别",)
_BIRTH = ("出生日期", "出生年月日", "生日")
_DISABLED = ("残疾", "是否残疾", "残疾儿童")
_DISABILITY_GRADE = ("残疾等级",)
_POVERTY = ("脱贫家庭", "建档立卡", "是否脱贫家庭", "建档立卡户", "是否建档立卡")
_TOWNSHIP = ("乡镇代码", "乡镇(街道)代码", "乡镇街道代码")
_STUDENT_NO = ("全国学籍号", "学籍号", "学籍辅号")
_SCHOOL = ("学校标识码", "学校代码", "学校识别码")


def _c(name: str, kind: str, label: str, *aliases: str, vocab: dict | None = None) -> Column:
    return Column(name, kind, tuple(aliases), label, vocab or {})


REGISTRY = SourceSpec(
    "registry", "学籍",
    (
        _c("student_no", "text", "全国学籍号", *_STUDENT_NO),
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
        _c("hukou_region_code", "text", "户口所在地区划", "户籍所在地", "户口所在地行政区划"),
        _c("township_code", "text", "乡镇代码", *_TOWNSHIP),
        _c("is_poverty_family", "bool", "脱贫家庭", *_POVERTY, vocab=FLAG),
        _c("is_left_behind", "bool", "留守儿童", "是否留守儿童", vocab=FLAG),
        _c("is_migrant", "bool", "随迁子女", "流动儿童", "是否随迁子女", "进城务工人员随迁子女", vocab=FLAG),
        _c("is_disabled", "bool", "残疾", *_DISABLED, vocab=FLAG),
        _c("disability_grade", "text", "残疾等级", *_DISABILITY_GRADE),
        _c("is_in_difficulty", "bool", "困境儿童", "是否困境儿童", vocab=FLAG),
        _c("guardian_name", "text", "监护人", "监护人姓名"),
        _c("guardian_phone", "text", "联系电话", "监护人电话", "监护人联系电话"),
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
    required=("school_code", "date", "status"),
    one_of=("id_number", "student_no"),
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
        _c("residence_status", "code", "居住状态", "人口状态", "户籍状态", vocab=RESIDENCE_STATUS),
        _c("is_disabled", "bool", "残疾", *_DISABLED, vocab=FLAG),
        _c("disability_grade", "text", "残疾等级", *_DISABILITY_GRADE),
        _c("is_poverty_family", "bool", "脱贫家庭", *_POVERTY, vocab=FLAG),
    ),
    required=("id_number", "name", "gender", "birth_date", "township_code", "residence_status"),
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
        _c("kind", "code", "类型", "审批类型", "申请类型", vocab=EXEMPTION_KIND),
        _c("approved_on", "date", "批准日期", "审批日期"),
        _c("valid_until", "date", "有效期至", "截止日期"),
        _c("reason", "text", "原因", "申请原因"),
        _c("approved_by", "text", "批准单位", "审批单位"),
    ),
    required=("id_number", "kind", "approved_on", "valid_until"),
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
