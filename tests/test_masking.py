"""kongchuo.masking: the one masking helper."""

import pandas as pd

from kongchuo.masking import mask_frame, mask_id, mask_name, mask_phone, preview_markdown


def test_mask_id_keeps_region_and_tail():
    assert mask_id("41100320100305123X") == "411003********123X"
    assert mask_id("G41100320100305123X").endswith("123X") and "20100305" not in mask_id("G41100320100305123X")
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
