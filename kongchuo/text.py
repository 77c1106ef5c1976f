"""Vectorised text clean-up shared by the value parsers (:mod:`kongchuo.normalize`) and the ID numbers
(:mod:`kongchuo.idnumber`): full-width folding and whitespace removal in Arrow."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def fold_fullwidth(s: pd.Series, table: dict, chars: str) -> pd.Series:
    """``s.str.translate(table)`` on the few values that hold one of ``chars`` only: translate runs a Python
    call per value, while the regex test that finds them runs in Arrow over the whole column."""
    wide = s.str.contains(chars, regex=True).fillna(False).to_numpy(dtype=bool)
    if not wide.any():
        return s
    s = s.copy()
    s[wide] = s[wide].str.translate(table)
    return s


# Python's \s in RE2 syntax: RE2's own \s is ASCII only; Python's also takes Unicode separators (NBSP,
# U+3000...), \x1c-\x1f and \x85.
_RE2_WHITESPACE = r"[\s\v\p{Z}\x{1c}-\x{1f}\x{85}]+"


def drop_whitespace(s: pd.Series) -> pd.Series:
    r"""``s.str.replace(r"\s+", "", regex=True)`` in Arrow: pandas' nullable ``string`` dtype runs a regex
    replacement as a Python call per value (ID and student numbers are all distinct: one call for every value),
    Arrow's RE2 kernel does a column at once."""
    if not isinstance(s.array, pd.arrays.ArrowStringArray):
        return s.str.replace(r"\s+", "", regex=True)
    out = pc.replace_substring_regex(pa.chunked_array(pa.array(s.array)), _RE2_WHITESPACE, "")
    return pd.Series(pd.arrays.ArrowStringArray(out), index=s.index, dtype=s.dtype)
