"""kongchuo.masking: the one masking helper."""

import pandas as pd
import pytest

from kongchuo.masking import mask_file_name, mask_frame, mask_id, mask_name, mask_phone, preview_markdown

pytestmark = pytest.mark.fast  # make check


def test_mask_id_keeps_region_and_check_character_only():
    # keeping the last four characters hid exactly the birth date: anyone knowing it had the whole number back
    assert mask_id("41100320100305123X") == "411003***********X"
    assert mask_id("G41100320100305123X").endswith("*X") and "123" not in mask_id("G41100320100305123X")
    assert mask_id(None) == "" and mask_id(float("nan")) == ""
    assert mask_id("12345") == "*****"


def test_mask_name():
    assert mask_name("张小明") == "张*明"
    assert mask_name("李明") == "李*"
    assert mask_name("欧阳小明") == "欧**明"
    assert mask_name("张") == "*"


def test_mask_phone():
    assert mask_phone("13812345678") == "138****5678"


def test_mask_frame_and_preview_hide_everything_sensitive():
    df = pd.DataFrame({"id_number": ["41100320100305123X"], "name": ["张小明"], "record_key": ["G41100320100305123X"],
                       "guardian_name": ["张大山"], "guardian_phone": ["13812345678"], "school_code": ["4110031001"]})
    masked = mask_frame(df)
    assert masked.loc[0, "school_code"] == "4110031001"
    text = preview_markdown(df)
    for secret in ("41100320100305123X", "张小明", "张大山", "13812345678"):
        assert secret not in text
    assert df.loc[0, "name"] == "张小明"  # the input is not modified


def test_mask_file_name_masks_ids_and_student_numbers_keeps_codes_and_dates():
    assert mask_file_name("张三_41100320100305123X_学籍.csv") == "张*_411003***********X_学籍.csv"
    assert mask_file_name("41100320100305123X-欧阳小明.xlsx") == "411003***********X-欧**明.xlsx"
    assert mask_file_name("张小明的材料.csv") == "张小明的材料.csv"  # no ID: nothing to tie a name to
    assert mask_file_name("G41100320100305123X.xlsx") == f"{mask_id('G41100320100305123X')}.xlsx"
    assert mask_file_name("4110031001_一中_20260915.csv") == "4110031001_一中_20260915.csv"
    assert mask_file_name("旧证411003100305123.csv") == "旧*411003********3.csv"  # 15-digit old ID


def test_preview_never_shows_a_birth_date_beside_a_masked_id():
    df = pd.DataFrame({"id_number": ["41100320100305123X"], "birth_date": ["2010-03-05"],
                       "birth_date_raw": ["2010/3/5"], "grade": [5]})
    text = preview_markdown(df)
    assert "2010" not in text.replace("411003", "") and "birth_date" not in text
    assert "2010-03-05" in preview_markdown(df[["birth_date", "grade"]])  # no ID beside it: nothing to rebuild
