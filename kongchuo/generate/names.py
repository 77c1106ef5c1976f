"""Chinese surnames (by approximate frequency, per cent of population) and given-name characters."""

from __future__ import annotations

import numpy as np

_SURNAMES = (
    "王7.25 李7.19 张6.86 刘5.38 陈4.53 杨3.08 黄2.23 赵2.29 吴2.05 周1.89 徐1.67 孙1.54 马1.45 朱1.27 胡1.31 "
    "郭1.15 何1.05 高1.00 林0.97 罗0.86 郑0.78 梁0.77 谢0.67 宋0.62 唐0.62 许0.59 韩0.59 冯0.55 邓0.54 曹0.53 "
    "彭0.51 曾0.50 肖0.48 田0.47 董0.46 袁0.44 潘0.41 于0.41 蒋0.41 蔡0.40 余0.39 杜0.38 叶0.37 程0.37 苏0.34 "
    "魏0.34 吕0.33 丁0.32 任0.32 沈0.31 姚0.30 卢0.30 姜0.29 崔0.28 钟0.27 谭0.27 陆0.26 汪0.26 范0.26 金0.25 "
    "石0.24 廖0.23 贾0.23 夏0.22 韦0.22 付0.21 方0.21 白0.20 邹0.20 孟0.19 熊0.19 秦0.19 邱0.18 江0.18 尹0.17 "
    "薛0.17 闫0.17 段0.16 雷0.16 侯0.16 龙0.15 史0.15 陶0.15 黎0.14 贺0.14 顾0.14 毛0.14 郝0.14 龚0.13 邵0.13 "
    "万0.13 钱0.13 严0.12 武0.12 戴0.12 莫0.11 孔0.11 向0.11 汤0.11"
)
SURNAMES = np.array([s[0] for s in _SURNAMES.split()])
SURNAME_P = np.array([float(s[1:]) for s in _SURNAMES.split()])
SURNAME_P = SURNAME_P / SURNAME_P.sum()

MALE_CHARS = np.array(list("浩宇轩子涵博文泽俊杰明辰睿一航磊鹏晨豪阳嘉昊然鑫凯伟强建国志诚天佳思远奕家乐毅恒铭瑞锦朗润林森翔宏斌"))
FEMALE_CHARS = np.array(list("梓涵欣怡雨萱思琪佳悦可馨诗雅晓婷梦瑶彤静颖慧欢妍雪丽娜芳媛月玉晴语嫣心若依甜艺紫"))
ADULT_MALE = np.array(list("建国军伟强磊勇军杰涛明超刚平辉红卫东海峰鹏华"))
ADULT_FEMALE = np.array(list("丽红芳娟敏静霞燕艳玲萍英秀梅华兰凤琴洁"))


def surnames(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(SURNAMES, size=n, p=SURNAME_P)


def given(rng: np.random.Generator, male: np.ndarray, adult: bool = False) -> np.ndarray:
    """1-2 character given names (about 75% two characters), gender-tinted."""
    n = len(male)
    mpool, fpool = (ADULT_MALE, ADULT_FEMALE) if adult else (MALE_CHARS, FEMALE_CHARS)
    a = np.where(male, rng.choice(mpool, n), rng.choice(fpool, n))
    b = np.where(male, rng.choice(mpool, n), rng.choice(fpool, n))
    two = rng.random(n) < 0.75
    out = np.char.add(a.astype("U1"), np.where(two, b, "").astype("U1"))
    return out


def full_names(rng: np.random.Generator, male: np.ndarray, family: np.ndarray | None = None,
               adult: bool = False) -> np.ndarray:
    fam = family if family is not None else surnames(rng, len(male))
    return np.char.add(fam.astype("U1"), given(rng, male, adult))
