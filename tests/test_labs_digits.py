"""Lab 1: the digits CSV loader, its embedded stand-in, the distance
classifiers and their figures. t-SNE and UMAP run on small subsets only."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from engine.data import digits as data
from engine.errors import BenchError
from engine.figures.digits import centre_distance_heatmap, confusion_matrix_figure, embedding_scatter
from engine.trainers import digits as lab

ROW = ",".join(["-1"] * 255 + ["0.5"])


def write_folder(folder: Path, **files: str | None) -> Path:
    """Four valid CSVs (3 train rows, 2 test rows); pass text to replace a
    file (key ``train_in`` etc.), None to leave it out."""
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {
        "train_in": "\n".join([ROW] * 3) + "\n",
        "train_out": "0\n7\n9\n",
        "test_in": "\n".join([ROW] * 2) + "\n",
        "test_out": "3\n4.0\n",
    }
    for name, default in defaults.items():
        content = files.get(name, default)
        if content is not None:
            (folder / f"{name}.csv").write_text(content, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def default_splits(tmp_path_factory) -> data.DigitsSplits:
    return data.load_digits(cache_dir=tmp_path_factory.mktemp("digits"))


def test_valid_folder_loads(tmp_path):
    splits = data.load_digits(write_folder(tmp_path / "d"))
    assert splits.sizes() == {"train": 3, "test": 2}
    assert splits.x["train"].shape == (3, 256) and splits.x["train"][0, -1] == 0.5
    assert splits.y["train"].tolist() == [0, 7, 9] and splits.y["test"].tolist() == [3, 4]
    assert splits.class_names == [str(d) for d in range(10)]
    assert splits.source.startswith("folder ")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"test_out": None}, "test_out.csv: file not found (expected train_in.csv, train_out.csv, test_in.csv, test_out.csv)"),
        ({"train_out": "0\n7\n"}, "train_in.csv: 3 rows but train_out.csv has 2 (one label per image expected)"),
        ({"train_in": f"{ROW}\n{ROW},1\n{ROW}\n"}, "train_in.csv: line 2: 257 values, expected 256 (a 16x16 image)"),
        ({"train_in": f"{ROW}\n{ROW}\n" + ROW.replace("0.5", "1.5")}, "train_in.csv: line 3, column 256: 1.5 is outside [-1, 1]"),
        ({"test_in": "-1,x" + ROW[5:] + f"\n{ROW}\n"}, "test_in.csv: line 1, column 2: 'x' is not a number"),
        ({"test_in": f"{ROW}\n\nnan" + ROW[2:] + "\n"}, "test_in.csv: line 3, column 1: 'nan' is not a number"),
        ({"train_out": "0\n7.5\n9\n"}, "train_out.csv: line 2: '7.5' is not a digit label (an integer 0-9)"),
        ({"test_out": "3\n10\n"}, "test_out.csv: line 2: '10' is not a digit label (an integer 0-9)"),
        ({"test_out": "\n\n"}, "test_out.csv: no data rows"),
    ],
)
def test_bad_files_name_file_line_and_column(tmp_path, files, message):
    folder = write_folder(tmp_path / "d", **files)
    with pytest.raises(BenchError) as error:
        data.load_digits(folder)
    text = str(error.value)
    assert "\n" not in text
    assert text == f"{folder}/{message}"


def test_not_a_folder(tmp_path):
    with pytest.raises(BenchError, match="is not a folder"):
        data.load_digits(tmp_path / "nowhere")


def test_default_is_the_documented_standin(default_splits, tmp_path):
    assert default_splits.sizes() == {"train": 1133, "test": 664}  # 1797 in the course's 1707/2707
    for split in data.SPLITS:
        x, y = default_splits.x[split], default_splits.y[split]
        assert x.shape[1] == 256 and x.min() == -1.0 and x.max() == 1.0
        assert sorted(set(y.tolist())) == list(range(10))
        # every 8x8 pixel became a 2x2 block
        images = x.reshape(-1, 16, 16)
        assert np.array_equal(images, np.repeat(np.repeat(images[:, ::2, ::2], 2, axis=1), 2, axis=2))
    assert "stand-in" in default_splits.source and "scikit-learn" in default_splits.source
    # the cached CSVs hold exactly the arrays, and a fresh build is identical
    x, y = data.standin_arrays()
    again = data.load_digits(cache_dir=tmp_path / "again")
    for split in data.SPLITS:
        assert np.array_equal(default_splits.x[split], x[split])
        assert np.array_equal(again.y[split], y[split]) and np.array_equal(again.x[split], x[split])
    # the first training digit is sklearn's row chosen by the seeded split
    from sklearn.datasets import load_digits as sk

    order = np.sort(np.random.default_rng(42).permutation(1797)[:1133])
    assert np.array_equal(default_splits.y["train"], sk().target[order])


def test_centres_distances_and_nearest_centre():
    x = np.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0], [10.0, 4.0]])
    y = np.array([0, 0, 1, 1])
    centres = lab.class_centres(x, y, num_classes=2)
    assert centres.tolist() == [[1.0, 0.0], [10.0, 2.0]]
    distances = lab.centre_distances(centres)
    assert distances[0, 0] == 0 and distances[0, 1] == pytest.approx(np.sqrt(81 + 4))
    assert lab.nearest_centre_predict(centres, np.array([[5.0, 0.0], [6.0, 0.0]])).tolist() == [0, 1]
    assert lab.score(y, np.array([0, 1, 1, 1])) == {"correct": 3, "incorrect": 1, "accuracy": 0.75}
    assert lab.confusion(y, np.array([0, 1, 1, 1]), 2).tolist() == [[1, 1], [0, 2]]
    with pytest.raises(ValueError, match=r"class\(es\) \[2\]"):
        lab.class_centres(x, y, num_classes=3)


def test_full_256d_classifiers_on_default(default_splits):
    d = default_splits
    result = lab.run_lab(d.x["train"], d.y["train"], d.x["test"], d.y["test"], k=5, embeddings=("pca",))
    acc = {(r["classifier"], r["space"], r["split"]): r["accuracy"] for r in result["table"]}
    assert len(result["table"]) == 8
    # measured 91.0 / 91.3 (centre) and 99.1 / 97.7 (5-NN); k-NN beats the centre on test
    assert 0.88 < acc["centre", "256d", "test"] < acc["knn", "256d", "test"]
    assert acc["knn", "256d", "train"] > 0.98
    # a 2-D PCA throws most of the information away
    assert acc["centre", "pca", "test"] < acc["centre", "256d", "test"] - 0.2
    for row in result["table"]:
        assert row["correct"] + row["incorrect"] == d.sizes()[row["split"]]
        assert result["confusion"][f"{row['classifier']}/{row['space']}/{row['split']}"].trace() == row["correct"]
    assert lab.accuracy_of(result["table"], "knn", "256d", "test") == acc["knn", "256d", "test"]
    distances = result["distances"]
    assert np.allclose(distances, distances.T) and np.all(np.diag(distances) == 0)
    i, j, smallest = result["closest_pairs"][0]
    assert smallest == np.min(distances[np.triu_indices(10, 1)])


def test_all_embeddings_on_a_subset_are_seeded(default_splits):
    d = default_splits
    xs, ys, xt, yt = d.x["train"][:150], d.y["train"][:150], d.x["test"][:60], d.y["test"][:60]
    phases = []
    first = lab.run_lab(xs, ys, xt, yt, k=3, seed=1, on_phase=lambda name, info: phases.append(name))
    assert phases[:4] == ["centres", "pca", "tsne", "umap"]
    for method in lab.EMBEDDINGS:
        assert first["embeddings"][method]["train"].shape == (150, 2)
        assert first["embeddings"][method]["test"].shape == (60, 2)
    again = lab.embed(xs, xt, "tsne", seed=1)
    assert np.array_equal(again[0], first["embeddings"]["tsne"]["train"])
    # separable enough that k-NN in the t-SNE plane is far above chance (10 %)
    assert lab.accuracy_of(first["table"], "knn", "tsne", "test") > 0.6
    with pytest.raises(ValueError, match="unknown embedding"):
        lab.embed(xs, xt, "lda")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_figures_render(default_splits):
    d = default_splits
    centres = lab.class_centres(d.x["train"], d.y["train"])
    heat = centre_distance_heatmap(lab.centre_distances(centres), d.class_names, d.source[:60])
    assert "closest" in heat.axes[0].get_title()
    pca = lab.embed(d.x["train"], d.x["test"], "pca")[0]
    scatter = embedding_scatter({"pca": pca, "pca again": pca}, d.y["train"], d.class_names)
    assert len([ax for ax in scatter.axes if ax.get_xlabel()]) == 2
    matrix = lab.confusion(d.y["test"], lab.nearest_centre_predict(centres, d.x["test"]))
    conf = confusion_matrix_figure(matrix, d.class_names, "nearest centre, 256-d, test")
    assert "accuracy" in conf.axes[0].get_title()
    for fig in (heat, scatter, conf):
        assert _png(fig).startswith(b"\x89PNG")


def test_a_stop_ends_a_tsne_or_umap_fit_at_once_and_a_finished_one_gives_the_same_numbers(default_splits):
    """The slow embeddings run in a child process: a stop request ends it
    within about a second (the whole fit of the full stand-in takes far
    longer), and without a stop its numbers are the in-process ones."""
    import time

    from engine.trainers.embeddings import embed_stoppable

    d = default_splits
    for method in ("tsne", "umap"):
        began = time.monotonic()
        asked = began + 1.0
        assert embed_stoppable(d.x["train"], d.x["test"], method, 0, lambda: time.monotonic() > asked) is None
        assert time.monotonic() - began < 3.0, method
    xs, xt = d.x["train"][:120], d.x["test"][:40]
    child = embed_stoppable(xs, xt, "tsne", 3, lambda: False)
    here = lab.embed(xs, xt, "tsne", seed=3)
    assert np.array_equal(child[0], here[0]) and np.array_equal(child[1], here[1])
    with pytest.raises(ValueError, match="unknown embedding"):
        embed_stoppable(xs, xt, "lda", 0, lambda: False)


def test_a_replay_stopped_during_a_tsne_fit_ends_in_seconds(tmp_path):
    """Ctrl-C (the replay's stop event) while the digits lab fits t-SNE on
    the whole stand-in: the run ends ``stopped`` at once, not when the fit
    is done."""
    import threading
    import time

    from engine.events import Callback
    from engine.preset import load_preset
    from engine.study import ReplayOptions, plan, replay

    preset = tmp_path / "tsne.toml"
    preset.write_text('name = "tsne"\n[[experiment]]\nname = "digits"\nkind = "digits"\n'
                      'grid = { "model.space" = ["tsne"] }\nfigures = []\n')
    the_plan = plan(load_preset(preset), ReplayOptions(runs_dir=tmp_path / "runs", data_root=tmp_path / "data"))
    stop = threading.Event()
    stopped_at: list[float] = []

    class StopSoonAfterTheStart(Callback):
        def on_run_start(self, event) -> None:
            threading.Timer(1.0, lambda: (stopped_at.append(time.monotonic()), stop.set())).start()

    summary = replay(the_plan, callbacks_for=lambda run: [StopSoonAfterTheStart()], stop=stop)
    assert time.monotonic() - stopped_at[0] < 3.0
    assert summary.counts == {"stopped": 1}
    record = json.loads((tmp_path / "runs/tsne/digits/space=tsne/run.json").read_text())
    assert record["status"] == "stopped" and "during the tsne fit" in record["message"]
