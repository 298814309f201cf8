"""The original's ROOT products in its layout: written from a search with the preset's six targets
and compared with the original analysis's own file (../shared/data/polar/original_products/)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import uproot
from conftest import SHARED

from polar import export, intervals

ORIGINAL = SHARED / "data" / "polar" / "original_products" / "cluster_inter_nf1rate.root"
#: the targets of config=original (the original's configuration): rate[0], rate[1], rate[5], ...
TARGETS = ["0", "1", "5", "6", "10", "12"]
TREES = ("cluster_inter_nf1rate", "negative_cluster_inter_nf1rate")


def _products(tmp_path):
    """The preset's products of a search on noise with injected excesses and a deficit."""
    rng = np.random.default_rng(3)
    t = 1.6e9 + np.arange(30_000, dtype=float)
    t[15_000:] += 600  # an SAA gap
    pull = rng.standard_normal((len(t), len(TARGETS)))
    pull[4000:4010, [2, 3]] += 12  # rate[5] and rate[6]: "2_3"
    pull[8000:8005, :] += 12  # every target: "0_1_2_3_4_5"
    pull[20000:20012, 4] -= 12  # a deficit of rate[10] alone: "4"
    cores = [intervals.fit_core(pull[:, c]) for c in range(len(TARGETS))]
    _, _, combinations = intervals.find(t, pull, cores, TARGETS, 5.0, 1, 1.0)
    found = {
        "combinations": [vars(c) for c in combinations],
        "combination_counts": {"5.0": intervals.combination_counts(combinations)},
    }
    predicted = {"unix_time": t, "predicted": 100 + pull}
    export.write_original(tmp_path, predicted, found)
    return found


def test_the_cluster_file_has_the_originals_layout_with_positions_as_names(tmp_path):
    found = _products(tmp_path)
    grammar = re.compile(r"(?:[0-5](?:_[0-5])*|#_inter_more_[0-5])")
    with uproot.open(tmp_path / "cluster_inter_nf1rate.root") as ours:
        assert sorted(k.split(";")[0] for k in ours.keys()) == sorted(TREES)
        for name in TREES:
            tree = ours[name]
            assert tree.num_entries == 2
            for branch in tree.keys():
                assert grammar.fullmatch(branch), branch
                assert re.fullmatch(r"double\[\d+\]", tree[branch].typename), branch
        positive = ours["cluster_inter_nf1rate"].arrays(library="np")
        negative = ours["negative_cluster_inter_nf1rate"].arrays(library="np")
    assert {"2_3", "0_1_2_3_4_5", "#_inter_more_0", "#_inter_more_5"} <= set(positive)
    assert "4" in negative and "2_3" not in negative
    # entry 0: the starts, entry 1: the ends, of the channel-named combination they stand for
    starts, ends = positive["2_3"]
    expected = [
        (c["t_start"], c["t_stop"])
        for c in found["combinations"]
        if c["combination"] == "5_6" and c["sign"] == 1
    ]
    assert list(zip(starts, ends)) == expected and len(expected) == 1
    with uproot.open(tmp_path / "pred_nf1rate.root") as pred:
        assert pred["pred_nf1rate"]["pred_rate"].typename == "float[6]"
        assert pred["pred_nf1rate"]["unix_time"].typename == "double"


@pytest.mark.requires_data(ORIGINAL.relative_to(SHARED))
def test_the_layout_equals_the_original_analysis_own_file(tmp_path):
    """Tree names, entry count, branch types and the grammar of the names, as in the original's
    file of the real data (its numbers are not this synthetic search's)."""
    _products(tmp_path)

    def layout(path):
        with uproot.open(path) as f:
            return {
                key.split(";")[0]: (
                    f[key].num_entries,
                    {re.sub(r"\[\d+\]", "[n]", f[key][b].typename) for b in f[key].keys()},
                    {re.sub(r"\d", "i", b) for b in f[key].keys() if b.startswith("#")},
                    all(
                        re.fullmatch(r"[0-5](?:_[0-5])*|#_inter_more_[0-5]", b)
                        for b in f[key].keys()
                    ),
                )
                for key in f.keys()
            }

    assert layout(tmp_path / "cluster_inter_nf1rate.root") == layout(ORIGINAL)
