"""Synthetic district generator: the ground truth every test uses.

``generate(district, students, seed, start, end, out, rates=None, attendance="rollcall", real_shapes=0.0,
profile="") -> Meta`` writes

- ``out/landing/<source>/...``: registry, attendance, census, casework, exemptions, home_teaching extracts as
  bureaus send them (CSV UTF-8 / UTF-8-BOM / GBK, XLSX; rotating header alias sets, date, gender, flag,
  grade and status spellings; ~2% of IDs with full-width digits, inner spaces or a lower-case x);
- ``out/reference/townships.csv`` and ``schools.csv`` (bundled reference plus any synthesised schools);
- ``out/ground_truth.csv`` and ``out/meta.json`` (every file with its format, encoding, alias set, date style,
  rows and periods; case counts).

``attendance="absence_only"`` (province scale: a month of roll call for 15M students is 315M rows) writes the
same attendance files (names, chunks, columns, formats, header aliases, status spellings) holding only the
rows whose status is not ``present`` (sick_leave, personal_leave, unexcused), plus
``out/reference/school_calendar.csv`` (UTF-8, one column ``date``, ISO: the district's school days over the
generated range from ``calendar``; the pipeline also accepts an optional ``school_code`` column), and
``"attendance": "absence_only"`` in meta.json. Rollcall output is unchanged (byte-identical).

``real_shapes`` (CLI ``--real-shapes 0.5``; default 0) is the share of files written in the shapes bureaus
really send (``shapes``: the national registry export, legacy ``.xls`` forms with title, 合计 and 填表人 rows,
a workbook with one sheet per grade and a hidden stale sheet, attendance with 是否请假/请假类型 and the class
teacher's month grid, the public-security household extract, the township 摸排表, the deferral roster with
缓学期限 ranges, titled CSV/XLSX forms). Shaped files carry the same records as their tidy twins, so
``ground_truth.csv`` is byte-identical for every share; with a share > 0 the small sources are written as three
files each, and every file's entry in meta.json has its ``shape`` (``tidy`` or the shape's name). With
``real_shapes=1`` every source comes in at least three shapes. The default leaves every output byte-identical
to earlier versions. The bundled sample (``data/sample``) stays tidy (share 0): other tests and the demo
read it, and its coverage test counts the tidy formats and alias sets; regenerate it with a share once the
readers of these shapes are merged, if wanted.

``profile`` (CLI ``--profile demo``; default '': every output as before) names a ``profiles`` entry: which
schools get pupils (``demo``: every reference school), casework timing (spread over the range) and the rates
used when ``rates`` is not given (CLI: the profile's rates, then ``--rate`` overrides). meta.json records it.
The bundled sample is ``--profile demo``.

Same arguments give byte-identical files. CLI: ``python -m kongchuo.generate --district 411003 --students
100000 --seed 7 --start 2026-03-02 --end 2026-06-30 --out DIR [--rate DQ08=0.01]``. ``start`` and ``end`` must
lie in one school year. ``--attendance absence_only`` selects the absence-only mode; ``--real-shapes SHARE``
writes that share of the files in real export shapes.

Ground truth semantics (the pipeline implements exactly these)
---------------------------------------------------------------
Columns: ``case, period, person_key, record_key, id_number, student_no, school_code, township_code, detail``.
``period`` is a month ``YYYY-MM`` for period cases (one row per month of the range where the case holds) and
'' for snapshot cases. ``person_key`` = the normalised ``id_number`` of the record when it has one, else its
``student_no``. An attendance row's person is: its normalised ``id_number`` (id-keyed files); for
student_no-keyed files the person_key of the registry record with that ``student_no``, or the student_no itself
when no registry record has it. ``record_key`` = ``student_no`` for registry records, the row's key
(student_no, or normalised id_number) for attendance rows, ``id_number`` for census, casework and home-teaching.

Definitions: *active* record = registry status 在读/在籍/转入. *School days* = dates with roll-call rows
(weekdays minus public holidays plus make-up days; see ``calendar``). *Reference date* = 31 Aug before the
school year (2025-08-31 for spring 2026); ``age_ref`` = full years on it. *Period end* = last calendar day of
the month. *Term* = autumn (Aug-Jan) or spring (Feb-Jul); its *first school day* = its earliest school day.
*Exemption in force* in a period: ``approved_on <= period end`` and ``valid_until >= period start``.

Exclusions (apply to SD1-SD5 per person and period; the excluded hit is written as case ``EXCLUDED`` with
detail ``"<rule> excluded: <reasons>"`` and never as the SD case): exemption (延缓入学/休学) in force;
home-taught (any 送教上门 visit in the school year); deceased (any registry record 死亡 or census 死亡);
graduated (any registry record 毕业); ``over_16`` (>= 17 full years on the period's last day, from the
registry birth_date). An EXPIRED exemption does not exclude.

- ``SD1`` (period): per attendance key and school: >= 3 consecutive school days with status unexcused within
  the month (runs are counted inside the month only), or >= 10 unexcused days in the month. Normal children
  never reach it (by construction: no two consecutive unexcused days, at most 4 a month).
- ``SD2`` (period = month of the term's first school day): a person with an active record has >= 1 roll-call row
  among the term's first 10 school days and none of those rows is ``present`` (planted as personal_leave,
  present afterwards). A person with no rows at all in those days is SD5's business, not SD2.
- ``SD3`` (period): record with status 转出 whose person has no active record anywhere in the district, and
  more than 30 days between the transfer date and the period end. The transfer date is the record's change
  date (变动日期) when its registry file has that column (every file but every third one, ``writers.
  has_change_date``; the column header rotates over the aliases 变动日期/异动日期/异动时间 ...), else the
  registry snapshot's date (the file name's date, i.e. ``end``: such transfers are too recent for SD3 inside
  the range). A person with several 转出 records is dated by the latest. Planted change dates: the day after
  the child's last roll-call day (attendance stops after a day in the first ~60% of the range, never within a
  month's last 3 days), or 7–56 days before the range for children with no rows at all. Roll call plays no
  part in SD3. Received transfers (转出 at A with a change date before the range, 转入 at B with the same
  student_no, attending at B all range) are NOT SD3.
  NB: the stopped children's rows at A before the stop are DQ06 in those months (A's record is no longer
  active) - that overlap is intended and in the truth.
- ``SD4`` (every period): record with status 辍学.
- ``SD5`` (period): person with an active record and no roll-call row in the month at any school (one row per
  person; record_key = student_no of an active record). Planted for the whole range and for one month.
- ``OOS`` (every period): census child with 6 <= age_ref <= 15, residence 在户, no registry record in any state
  with the same normalised id_number, and no exemption in force. ``OOS_AWAY``: the same with residence 外出.
  Census children without registry who are aged 5 or 16, 迁出, 死亡, or deferred (in force) are ``EXCLUDED``.
- ``DQ01`` (snapshot): registry record whose normalised id_number is invalid; detail =
  ``kongchuo.idnumber.problem`` (``check_digit``, ``birth_date``, ``length``). These children are not in the
  census, and their student_no / roll-call keys carry the same wrong ID.
- ``DQ02`` (snapshot): valid id_number but registry birth_date or gender disagrees; detail birth_date|gender.
- ``DQ04`` (snapshot): one id_number with active records at >= 2 schools: one row per such active record.
- ``DQ05`` (period): active record with no roll-call row of its person at its school in the month
  (record-level; includes SD5 people, excluded people, and the second DQ04 record).
- ``DQ06`` (period): roll-call rows whose (person, school) has no active registry record: one row per
  (key, school, month); detail = row count.
- ``DQ07`` (snapshot): active record with ``age_ref(registry birth_date) - grade`` outside 5..8.
- ``DQ08`` (snapshot): registry record whose school_code is not in the reference schools or township_code not in
  the reference townships (detail names which). Default rate 0 (it is an error).
- ``ESC`` (period): among casework attempts dated <= period end, >= 3 results 未返校 and the latest is 未返校.
  ``RETURNED`` (period): the latest attempt dated <= period end is 已返校.
- ``HT_NONCOMPLIANT`` (period): home-taught child with fewer than 2 visits of >= 3 class hours in the month.
- ``EXCLUDED``: besides the excluded hits above, informational rows for planted children no rule fires for
  (graduated, registry 休学 with exemption, registry 死亡, received transfers).

Absence-only mode: what the pipeline can detect (``attendance="absence_only"``)
-------------------------------------------------------------------------------
The truth is computed from the rows that are written: *a child with no row on a school day was present*.
*School days* = the dates of ``reference/school_calendar.csv``. Every rule above applies to the written
(absence) rows with these differences:

- Planted ``SD5`` children (active, no attendance in the whole range) are written as absent ``unexcused`` on
  every school day: in the truth they are ``SD1`` every month (and ``SD2`` in the term's first month, and any
  exclusion that applies), never ``SD5``.
- ``SD5`` and ``DQ05`` do not exist (nothing says "never seen"). Other planted children without attendance
  (home-taught, exempted, expired exemptions, over-age, deceased, the second ``DQ04`` record, ``SD5_MONTH``
  months) simply have no rows: present.
- ``SD2``: a person with an active record, whose (key, school) is absent (any non-present status) on every one
  of the term's first 10 school days.
- ``SD1``: unchanged (a day without a row is present and breaks a run).
- ``SD3``: unchanged (roll call plays no part in it).
- ``DQ06``: rows (absence rows) whose (person, school) has no active record; detail = row count.
"""

from __future__ import annotations

from .core import Meta, Rates, generate

__all__ = ["Meta", "Rates", "generate"]
