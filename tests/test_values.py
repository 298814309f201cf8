"""Values a user gives, checked where they enter: numbers only, physical domains, a warning for a
unit slip with the reading it probably meant, the two readings of an extra observation's value,
and unit strings as they read."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from alpswyft import values
from alpswyft.parameters import parse_row, unit_scale, unit_text
from analysis_core.errors import ConfigError

M = parse_row(1, "[-2, 4] | -6 | -6 | 1 | U | m | neV")[0]
G = parse_row(2, "[-2, 1] | -5 | -5 | 1 | U | g | e-11GeV^{-1}")[0]
INDEX = parse_row(4, "[1.6, 2.6] | 2.11 | 2.11 | 0 | U | index | none")[0]


@pytest.mark.parametrize(
    "unit, plain, tex, scale",
    [
        ("e-11GeV^{-1}", "10⁻¹¹ GeV⁻¹", "$10^{-11}$ GeV$^{-1}$", 1e-11),
        ("TeV^{-1}cm^{-2}s^{-1}", "TeV⁻¹ cm⁻² s⁻¹", "TeV$^{-1}$ cm$^{-2}$ s$^{-1}$", 1.0),
        ("1e-3cm^{-3}", "10⁻³ cm⁻³", "$10^{-3}$ cm$^{-3}$", 1e-3),
        ("muG", "μG", "μG", 1.0),
        ("kpc^{-1}", "kpc⁻¹", "kpc$^{-1}$", 1.0),
        ("neV", "neV", "neV", 1.0),
        ("none", "", "", 1.0),
        ("1", "", "", 1.0),
        ("a/b", "a/b", "a/b", 1.0),  # not a product of powers: as written
    ],
)
def test_unit_strings_read_as_units(unit, plain, tex, scale):
    assert unit_text(unit) == plain and unit_text(unit, tex=True) == tex
    assert unit_scale(unit) == scale


def test_axis_labels_render_the_unit_and_drop_none():
    assert G.label == "log10 g [$10^{-11}$ GeV$^{-1}$]"
    assert INDEX.label == "index"


def test_text_is_refused_with_the_unit_expected():
    with pytest.raises(ConfigError, match=r"m = '10 neV': a number .* in neV, not text"):
        values.numbers("m", "10 neV", "neV")
    with pytest.raises(ConfigError, match="in 10⁻¹¹ GeV⁻¹"):
        values.numbers("g", ["1", 2], "e-11GeV^{-1}")
    assert values.numbers("m", [1, 2], "neV").tolist() == [1.0, 2.0]


def test_values_outside_the_physical_domain_name_the_parameter_value_and_unit():
    theta = np.array([[10.0, 1.0, 2.0]])
    domains = {"index": (">=", 0.0)}
    values.check_domains([M, G, INDEX], theta, domains)
    for column, value, message in (
        (0, -1.0, r"m = '-1 neV': m must be larger than 0 \(its row is in log10\)"),
        (1, -2.0, r"g = '-2 × 10⁻¹¹ GeV⁻¹'"),
        (2, -1.0, "index = '-1': index must be at least 0"),
        (0, np.nan, "m = 'nan': a finite number in neV"),
    ):
        bad = theta.copy()
        bad[0, column] = value
        with pytest.raises(ConfigError, match=message):
            values.check_domains([M, G, INDEX], bad, domains)


def test_a_unit_slip_warns_with_the_value_it_probably_meant():
    why = values.far_outside(G, 3e-11)
    assert why == (
        "g = 3e-11 is far outside its prior box [0.01, 10] 10⁻¹¹ GeV⁻¹; "
        "did you mean g=3 (× 10⁻¹¹ GeV⁻¹)?"
    )
    assert values.far_outside(G, 3.0) is None
    assert values.far_outside(G, 1e-5) is None  # the table's own Null value ("no ALP")
    assert values.far_outside(M, 1e8) is not None and "did you mean" not in values.far_outside(
        M, 1e8
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        values.warn_far_outside([M, G], np.array([[10.0, 3e-11], [10.0, 4e-11]]))
    assert len(caught) == 1 and caught[0].filename == __file__  # once, at the user's line


def test_a_truth_outside_the_box_warns():
    with pytest.warns(UserWarning, match=r"the truth m = 1e\+05 neV lies outside the prior box"):
        values.warn_outside_box([M, G], np.array([5.0, 0.0]))


def test_extra_observation_values_read_as_alpsim_reads_them():
    # physical, unambiguous: no note
    assert values.table_value(M, "m", "10") == (1.0, None)
    assert values.table_value(G, "log10(g)", "0.5") == (0.5, None)
    assert values.table_value(INDEX, "index", "2.2") == (2.2, None)
    # both readings sensible: physical, with a note saying what the earlier form meant
    x, note = values.table_value(M, "m", "1")
    assert (
        x == 0.0 and "read in physical units, 1 neV" in note and "write m=10 or log10(m)=1" in note
    )
    # only sensible as log10 (the earlier form): read so, with a note
    x, note = values.table_value(G, "g", "-1")
    assert x == -1.0 and "read as log10(g) = -1" in note
    with pytest.raises(ConfigError, match="m must be larger than 0"):
        values.table_value(M, "m", "-7")


def test_suggestions():
    assert values.suggest("linestyl", ["linestyle", "m"]) == "; did you mean 'linestyle'?"
    assert values.suggest("zzz", ["m", "g"]) == ""
