"""Runs: every run under the runs folder in a sortable, filterable table;
open one to see its curves; mark several to overlay them and see only the
config values that differ."""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from rich.text import Text

from benchtui.screens.monitor import shorten_name, swatch
from benchtui.screens.setup import plural
from benchtui.widgets.charts import SeriesChart, chart_title, colour, zoom_next
from benchtui.widgets.thumbnail import Thumbnail
from engine.config import flatten
from engine.figures import loss_metric, split_family
from engine.kinds import KINDS
from engine.runs import scan_runs

# the run's name first (what tells runs apart), then the kind's metrics: what a run is judged by
COLUMNS = ("✓", "run", "primary", "second", "status", "experiment", "time s")
NAME_COLUMN = 1
METRIC_COLUMNS = (2, 3)
OTHER_WIDTH = 56  # what the columns other than the run's name take at most, cell padding included


def shown_value(value) -> str:
    """A value for people: 0.3894 (4 significant digits), true/false, — for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return format(value, ".4g")
    if isinstance(value, (list, tuple)):
        return ",".join(shown_value(v) for v in value)
    return str(value)


def short_names(names: list[str], width: int) -> dict[str, str]:
    """Each name in at most ``width`` characters (``shorten_name``: values
    kept); a name whose short form would equal another's is kept whole."""
    short = {name: shorten_name(name, width) for name in names}
    seen: dict[str, int] = {}
    for text in short.values():
        seen[text] = seen.get(text, 0) + 1
    return {name: text if seen[text] == 1 else name for name, text in short.items()}


def config_text(record: dict) -> str:
    """The run's whole config, one ``key=value`` per item, numbers rounded."""
    items = [f"{key}={shown_value(value)}" for key, value in flatten(record.get("config", {})).items() if value != ""]
    where = "archived: " if record.get("_archived") else ""
    return f"{where}{record.get('experiment', '?')}/{record.get('name', '?')}:  " + "  ".join(items)


def differing(records: list[dict]) -> dict[str, list]:
    """Config keys whose values are not the same in every record."""
    flats = [flatten(r.get("config", {})) for r in records]
    keys = sorted(set().union(*flats))
    return {k: [f.get(k) for f in flats] for k in keys if len({json.dumps(f.get(k)) for f in flats}) > 1}


def headline(record: dict) -> list[tuple[str, float | None, str]]:
    """(short name, value, text) of the run's kind's primary metric and the
    next metric of its family (validation accuracy, then test accuracy)."""
    kind = KINDS.get(record.get("kind", ""))
    final = record.get("final") or {}
    if kind is None:
        return []
    family = [name for _split, name in split_family(kind, kind.primary) if name != kind.primary]
    # the second: the primary's test counterpart, else the next metric the kind shows
    second = [n for n in family if n.startswith("test_")] + [n for n in kind.shown if n != kind.primary]
    names = [kind.primary] + second[:1]
    out = []
    for name in names:
        metric = kind.metric(name)
        value = final.get(name)
        out.append((metric.short, value, f"{metric.short} {metric.format(value)}{' ' + metric.unit if metric.unit else ''}"))
    return out


def run_name(record: dict) -> str:
    return Path(record.get("_path", record.get("name", "?"))).name


def row_cells(record: dict, marked: bool, name: str | None = None) -> tuple:
    wall = (record.get("history") or {}).get("wall_time")
    shown = [text for _name, _value, text in headline(record)] + ["—", "—"]
    status = record.get("status", "?")
    if status == "pruned" and (record.get("history") or {}).get("epoch"):  # stopped early by ASHA: where
        status = f"pruned @{record['history']['epoch'][-1]}"
    return ("●" if marked else " ", name or run_name(record), shown[0], shown[1],
            f"{status} (archived)" if record.get("_archived") else status,
            f"{record.get('preset', '?')}/{record.get('experiment', '?')}", "—" if wall is None else format(wall, ".1f"))


class CurvesModal(ModalScreen[None]):
    """Curves of one or more runs; with several, the config values that differ."""

    BINDINGS = [Binding("escape,q", "dismiss_modal", "close"), Binding("z", "zoom", "zoom chart"),
                Binding("i", "images", "images")]

    def __init__(self, records: list[dict]):
        super().__init__()
        self.records = records
        self.images = run_images(records[0]) if len(records) == 1 else []

    def compose(self) -> ComposeResult:
        with Vertical(id="curves-box"):
            names = ", ".join(r.get("name", "?") for r in self.records)
            images = f", i shows its {plural(len(self.images), 'image')}" if self.images else ""
            yield Static(f"[b]{escape(names)}[/]  (z zooms a chart{images}, esc closes)", id="curves-title")
            # the legend: each run's colour, as its curves show it
            yield Static(Text(" ").join(swatch(colour(i), f"■ {r.get('experiment')}/{r.get('name')}")
                                        for i, r in enumerate(self.records)), id="curves-legend")
            kind = KINDS.get(self.records[0].get("kind", ""))
            loss = loss_metric(kind) if kind is not None else None
            primary = kind.primary_metric if kind is not None else None
            if loss is not None:
                title, xlabel, ylabel = chart_title(kind, loss)
                yield SeriesChart(title, xlabel, ylabel, log_y=True, id="curves-loss")
            if primary is not None:
                title, xlabel, ylabel = chart_title(kind, primary.name)
                yield SeriesChart(title, xlabel, ylabel, id="curves-acc")
            table = DataTable(id="diff-table", zebra_stripes=True)
            yield table

    def on_mount(self) -> None:
        for r in self.records:
            kind = KINDS.get(r.get("kind", ""))
            if kind is None:
                continue
            h = r.get("history") or {}
            label = f"{r.get('experiment')}/{r.get('name')}"
            index = self.records.index(r)
            for chart_id, metric in (("#curves-loss", loss_metric(kind)), ("#curves-acc", kind.primary)):
                charts = self.query(chart_id)
                if metric and charts:
                    charts.first(SeriesChart).set_series(label, h.get("epoch", []), h.get(metric, []), colour(index))
        for chart in self.query(SeriesChart):
            chart.replot()
        table = self.query_one("#diff-table", DataTable)
        if len(self.records) > 1:
            diff = differing(self.records)
            heads = short_names([r.get("name", "?") for r in self.records], 20)  # never cut to ambiguity
            table.add_columns("config key", *[heads[r.get("name", "?")] for r in self.records])
            for key, values in diff.items():
                table.add_row(key, *[shown_value(v) for v in values])
            if not diff:
                table.add_row("(no config value differs)", *[""] * len(self.records))
        else:
            r = self.records[0]
            final = r.get("final") or {}
            table.add_columns("field", "value")
            for key in ("status", "message", "seed", "wall_time"):
                value = r.get(key, final.get(key, ""))
                table.add_row(key, shown_value(value) if key != "status" else str(value))
            for key, value in final.items():
                table.add_row(f"final.{key}", shown_value(value))
            for key, value in flatten(r.get("swept", {})).items():
                table.add_row(f"swept {key}", shown_value(value))

    def action_dismiss_modal(self) -> None:
        self.dismiss(None)

    def action_zoom(self) -> None:
        zoom_next(self)

    def action_images(self) -> None:
        if not self.images:
            self.notify("this run saved no images" if len(self.records) == 1 else "open one run to see its images")
            return
        self.app.push_screen(ImagesModal(self.records[0].get("name", "?"), self.images))


def run_images(record: dict) -> list[Path]:
    """The PNG files a run saved in its folder (sample grids, interpolations...), in name order."""
    folder = Path(record.get("_path", ""))
    return sorted(folder.glob("*.png")) if record.get("_path") and folder.is_dir() else []


class ImagesModal(ModalScreen[None]):
    """A run's saved images: a list of files and the selected one inline."""

    BINDINGS = [Binding("escape,q", "dismiss_modal", "close")]

    def __init__(self, name: str, paths: list[Path]):
        super().__init__()
        self.run_name, self.paths = name, paths

    def compose(self) -> ComposeResult:
        with Vertical(id="images-box"):
            yield Static(f"[b]{escape(self.run_name)}[/]: {plural(len(self.paths), 'image')}  (esc closes)",
                         id="images-title")
            with Horizontal(id="images-body"):
                yield OptionList(*[Option(escape(p.name)) for p in self.paths], id="images-list")
                yield Thumbnail(id="images-view")

    def on_mount(self) -> None:
        listing = self.query_one("#images-list", OptionList)
        listing.highlighted = 0
        listing.focus()
        self.show_image(0)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None:
            self.show_image(event.option_index)

    def show_image(self, index: int) -> None:
        self.query_one("#images-view", Thumbnail).image = str(self.paths[index])

    def action_dismiss_modal(self) -> None:
        self.dismiss(None)


class RunsScreen(Screen):
    SUB_TITLE = "Runs"
    BINDINGS = [
        Binding("enter", "open", "open run"),
        Binding("space", "mark", "mark"),
        Binding("c", "compare", "compare", tooltip="compare marked"),  # short: "q quit" stays on 80 columns
        Binding("o", "sort", "sort"),
        Binding("O", "reverse", "reverse sort", show=False),
        Binding("slash", "filter", "filter", show=False),
        Binding("R", "reload", "reload", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="/ filter: words that must appear in status, experiment or run", id="runs-filter")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-config", markup=False)
        yield Static("", id="runs-hint")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.records: list[dict] = []
        self.marked: set[str] = set()
        self.sort_column = METRIC_COLUMNS[0]  # the kind's primary metric, best first
        self.reverse = False
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.action_reload()
        table.focus()

    def on_screen_resume(self) -> None:
        self.action_reload()
        self.query_one(DataTable).focus()

    def action_reload(self) -> None:
        self.records = scan_runs(self.app.runs_dir)
        self.refill()

    def visible(self) -> list[dict]:
        words = self.query_one("#runs-filter", Input).value.lower().split()
        rows = [r for r in self.records
                if all(w in f"{r.get('status')} {r.get('preset')}/{r.get('experiment')} {r.get('name')}".lower()
                       for w in words)]

        def key(r: dict):
            if self.sort_column in METRIC_COLUMNS:  # by value, best first whatever the direction
                shown = headline(r)
                index = self.sort_column - METRIC_COLUMNS[0]
                if index < len(shown) and shown[index][1] is not None:
                    kind = KINDS[r["kind"]]
                    value = shown[index][1]
                    return (0, -value if kind.metric(kind.primary).better == "higher" else value)
                return (1, 0.0)
            value = row_cells(r, False)[self.sort_column]
            try:
                return (0, -float(value))
            except ValueError:
                return (1, value)

        ordered = sorted(rows, key=key)
        return ordered[::-1] if self.reverse else ordered

    def refill(self) -> None:
        table = self.query_one(DataTable)
        at = table.coordinate_to_cell_key(table.cursor_coordinate).row_key if table.row_count else None
        table.clear()  # resets the cursor to the first row
        rows = self.visible()
        width = max(16, (self.size.width or 80) - OTHER_WIDTH)
        names = short_names([run_name(r) for r in rows], width)
        for r in rows:
            table.add_row(*row_cells(r, r["_path"] in self.marked, names[run_name(r)]), key=r["_path"])
        if at is not None and at in table.rows:  # keep the cursor on the same run
            table.move_cursor(row=table.get_row_index(at))
        order = "reversed" if self.reverse else ("best first" if self.sort_column in METRIC_COLUMNS else "")
        self.query_one("#runs-hint", Static).update(
            f"{table.row_count} of {len(self.records)} runs in {self.app.runs_dir}/ · sorted by "
            f"{COLUMNS[self.sort_column]}{' ' + order if order else ''} (o, O reverses) · {len(self.marked)} marked")

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refill()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def current(self) -> dict | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.records if r["_path"] == key), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        record = self.current()
        self.query_one("#runs-config", Static).update(config_text(record) if record else "")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        record = self.current()
        if record is not None:
            self.app.push_screen(CurvesModal([record]))

    def action_mark(self) -> None:
        record = self.current()
        if record is None:
            return
        self.marked ^= {record["_path"]}
        row = self.query_one(DataTable).cursor_row
        self.refill()
        self.query_one(DataTable).move_cursor(row=min(row + 1, self.query_one(DataTable).row_count - 1))

    def action_compare(self) -> None:
        chosen = [r for r in self.records if r["_path"] in self.marked]
        if len(chosen) < 2:
            self.notify("mark two or more runs with space first")
            return
        self.app.push_screen(CurvesModal(chosen))

    def action_sort(self) -> None:
        self.sort_column = 1 + (self.sort_column % (len(COLUMNS) - 1))
        self.refill()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.refill()

    def on_resize(self) -> None:
        if getattr(self, "records", None) is not None:
            self.refill()  # the run names get the width there is

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()
