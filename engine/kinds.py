"""The experiment kinds a preset can name, and what each one needs:
its config dataclass, how to load its data, its trainer, the files saved
per run, and the figures it can draw."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from engine import figures as figs
from engine.config import from_dict
from engine.data.cities import load_cities
from engine.io import atomic_path
from engine.trainers import mlp as mlp_trainer


@dataclass(frozen=True)
class Kind:
    name: str
    config_type: type
    load_data: Callable[[Any, Path], Any]  # (config, data root) -> dataset
    data_key: Callable[[Any], tuple]  # runs with the same key share one loaded dataset
    describe_data: Callable[[Any], dict]
    fit: Callable[..., Any]
    save_artifacts: Callable[[Any, Path, dict, Any], list[str]]
    figures: dict
    figure_context: Callable[[Callable[[dict], Any]], Any]
    check_config: Callable[[Any], None]  # raises BenchError for a config that cannot train

    def check_figure(self, spec: dict, cfg_type: type) -> None:
        figs.check_figure(spec, cfg_type, self.figures)


# ------------------------------------------------------------------- mlp kind
def _mlp_load(cfg: mlp_trainer.MLPTrainConfig, data_root: Path):
    return load_cities(cfg.data.path or None, cache_dir=Path(data_root) / "cache" / "cities")


def _mlp_describe(data) -> dict:
    return {"name": "cities", "source": data.source, "sizes": data.sizes(), "class_names": data.class_names}


def _mlp_save(result, run_dir: Path, record: dict, data) -> list[str]:
    with atomic_path(run_dir / "model.pt") as tmp:
        torch.save({k: v.detach().cpu() for k, v in result.model.state_dict().items()}, tmp)
    return ["model.pt", figs.run_curves(record, run_dir / "curves.png")]


class MLPFigureContext:
    """What the decision-region figures need: a run's model and its data."""

    def __init__(self, data_for: Callable[[dict], Any]):
        self.data_for = data_for

    @lru_cache(maxsize=64)
    def _grid(self, run_dir: str, config_json: str):
        cfg = from_dict(mlp_trainer.MLPTrainConfig, json.loads(config_json))
        data = self.data_for(cfg)
        state = torch.load(Path(run_dir) / "model.pt", map_location="cpu", weights_only=True)
        model = mlp_trainer.load_model(cfg, data.x["train"].shape[1], data.num_classes, state)
        everything = np.concatenate([data.x[s] for s in data.x])
        (lo_x, lo_y), (hi_x, hi_y) = everything.min(0), everything.max(0)
        pad_x, pad_y = 0.03 * (hi_x - lo_x), 0.03 * (hi_y - lo_y)
        gx, gy = np.meshgrid(np.linspace(lo_x - pad_x, hi_x + pad_x, 400), np.linspace(lo_y - pad_y, hi_y + pad_y, 300))
        points = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
        with torch.no_grad():
            predicted = model(points).argmax(1).numpy().reshape(gx.shape)
        return gx, gy, predicted, data

    def region_grid(self, record: dict):
        gx, gy, predicted, _ = self._grid(record["_dir"], json.dumps(record["config"], sort_keys=True))
        return gx, gy, predicted

    def _data(self, record: dict):
        return self._grid(record["_dir"], json.dumps(record["config"], sort_keys=True))[3]

    def test_points(self, record: dict):
        data = self._data(record)
        return data.x["test"], data.y["test"]

    def num_classes(self, record: dict) -> int:
        return self._data(record).num_classes


MLP_KIND = Kind(
    name="mlp",
    config_type=mlp_trainer.MLPTrainConfig,
    load_data=_mlp_load,
    data_key=lambda cfg: ("cities", cfg.data.path),
    describe_data=_mlp_describe,
    fit=mlp_trainer.fit,
    save_artifacts=_mlp_save,
    figures=figs.FIGURES,
    figure_context=MLPFigureContext,
    check_config=mlp_trainer.check_config,
)

# ---------------------------------------------------------------- images kind
def _images_load(cfg, data_root: Path):
    from engine.data.images import load_image_folder
    from engine.data.standin import SOURCE, build_standin

    cache = Path(data_root) / "cache"
    if cfg.data.path:
        data = load_image_folder(cfg.data.path, cfg.data.image_size, cache / "images")
    else:
        folder = build_standin(cache / "faces_standin")
        data = load_image_folder(folder, cfg.data.image_size, cache / "images", source=SOURCE)
    data.cache_root = cache
    return data


def _images_describe(data) -> dict:
    return {"name": "faces", "source": data.source, "sizes": data.sizes(), "class_names": data.class_names,
            "class_counts": data.class_counts(), "image_size": data.image_size,
            "skipped_files": data.skipped, "root": str(data.root) if data.root else None}


def _images_save(result, run_dir: Path, record: dict, data) -> list[str]:
    from engine.figures_images import run_steps

    record.update(result.extra)
    return [run_steps(record, run_dir / "steps.png")]


def _images_fit(cfg, data, callbacks=(), stop=None, run_id="run"):
    from engine.trainers.images import fit

    return fit(cfg, data, callbacks=callbacks, stop=stop, run_id=run_id)


def _images_kind() -> Kind:
    from engine.figures_images import IMAGE_FIGURES, ImageFigureContext
    from engine.trainers.images import ImageTrainConfig, check_config

    return Kind(
        name="images",
        config_type=ImageTrainConfig,
        load_data=_images_load,
        data_key=lambda cfg: ("faces", cfg.data.path, cfg.data.image_size),
        describe_data=_images_describe,
        fit=_images_fit,
        save_artifacts=_images_save,
        figures=IMAGE_FIGURES,
        figure_context=ImageFigureContext,
        check_config=check_config,
    )


KINDS: dict[str, Kind] = {"mlp": MLP_KIND, "images": _images_kind()}
