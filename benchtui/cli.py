"""The ``benchtui`` command: a thin click group over the engine."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import click

from engine.config import describe_keys
from engine.errors import BenchError


def _keys_help() -> str:
    from engine.kinds import load_kinds

    lines = ["\b", "Config keys for --set and presets (KEY: default - meaning):"]
    for kind in load_kinds().values():
        lines.append(f"  kind '{kind.name}'{' (the default)' if kind.default else ''}: {kind.title}")
        for key, default, text in describe_keys(kind.config_type):
            lines.append(f"    {key}: {default} - {text}")
    return "\n".join(lines)


def _preset_help() -> str:
    """The preset format, with every kind's figure kinds and datasets."""
    from engine.kinds import default_kind, load_kinds

    lines = ["\b", "Preset format (TOML):",
             '  name = "NAME"                output folder under --runs-dir',
             '  title = "..."',
             "  [defaults]                   config values for every experiment",
             "  [[experiment]]               one or more",
             '  name = "NAME"                output folder under the preset',
             f'  kind = "KIND"                experiment kind (default: {default_kind().name})',
             '  title = "..."',
             "  set = { KEY = VALUE }        values for every run of the experiment",
             "  grid = { KEY = [V, ...] }    cartesian product of runs",
             "  zip = { KEY = [V, ...] }     lists paired element-wise",
             '  figures = [{ kind = "FIGURE", OPTION = VALUE }, ...]',
             '  early_stop = { kind = "asha", metric = "METRIC", grace_epochs = N, reduction_factor = N }',
             "                               ASHA stops bad runs early (status pruned; --executor ray only)",
             "", "\b", "Kinds, their datasets (--data NAME=DIR) and figure kinds:"]
    for kind in load_kinds().values():
        lines.append(f"  {kind.name}: {kind.title}; metrics {', '.join(m.name for m in kind.metrics)} "
                     f"(primary {kind.primary})")
        for name, text in kind.datasets.items():
            lines.append(f"    --data {name}=DIR: {text}")
        for name, fig in kind.figures.items():
            options = ", ".join(sorted(fig.options)) or "no options"
            lines.append(f"    figure {name} ({options}){': ' + fig.help if fig.help else ''}")
    return "\n".join(lines)


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"{option} {item!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


class BenchGroup(click.Group):
    """Turns a BenchError anywhere below into one line on stderr and exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BenchError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=BenchGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Where runs are read and written.")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where embedded default datasets are cached.")
def cli(ctx: click.Context, runs_dir: Path, data_root: Path) -> None:
    """benchtui: a terminal lab bench for machine-learning experiments.

    Without a command, opens the lab bench (a Textual app): set up a
    dataset, model and sweep, run and watch it, compare runs, browse the
    gallery. `benchtui replay PRESET` replays a preset in batch."""
    if ctx.invoked_subcommand is None:
        if not sys.stdout.isatty():
            raise BenchError("the lab bench needs a terminal; use `benchtui replay PRESET --no-ui` in scripts")
        from benchtui.app import make_app

        make_app(runs_dir=runs_dir, data_root=data_root).run()


class ReplayCommand(click.Command):
    """Its help ends with the preset format and every registered kind's
    keys, read from the registry when the help is shown (never stale)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for block in (_preset_help(), _keys_help()):
            formatter.write_paragraph()
            with formatter.indentation():
                for line in block.splitlines():
                    if line != "\b":
                        formatter.write_text(line) if not line.startswith(" ") else formatter.write(
                            " " * formatter.current_indent + line + "\n")
        super().format_epilog(ctx, formatter)


@cli.command(cls=ReplayCommand)
@click.argument("preset", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-ui", is_flag=True, help="Console progress instead of the lab bench's live view "
              "(plain logs when not a terminal).")
@click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs"),
              show_default=True, help="Where runs are written: DIR/<preset>/<experiment>/<run>/.")
@click.option("--data", "data", multiple=True, metavar="NAME=PATH",
              help="Point a dataset at a folder (the datasets and their formats are listed below).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config value for every run (type-checked; see the keys below).")
@click.option("--only", multiple=True, metavar="EXPERIMENT", help="Run only the named experiment(s).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=None,
              help="Where to train (default: the preset's, i.e. auto = CUDA when present).")
@click.option("--force", is_flag=True, help="Redo runs that already finished (and start unfinished ones afresh, "
              "ignoring their checkpoints).")
@click.option("--keep-checkpoints", is_flag=True,
              help="Keep each finished run's last mid-run checkpoint (checkpoint.pt in its folder); by default it is "
              "removed once the run has finished.")
@click.option("--seeds", type=click.IntRange(min=1), default=None, metavar="N",
              help="Run every setting with N seeds (the experiment's first seed and the next ones); figures "
              "draw the mean and the spread, findings are decided on the seeds' agreement.")
@click.option("--no-stack", is_flag=True, help="Train every run alone, even those that could train stacked "
              "together (same model shape and batch schedule).")
@click.option("--data-root", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
              show_default=True, help="Where embedded default datasets are cached.")
@click.option("--executor", type=click.Choice(["local", "processes", "ray"]), default=None,
              help="Where runs train: local (one after another in this process), processes (in parallel worker "
              "processes on this machine), ray (each run a Ray Tune trial, on a local Ray instance or a cluster; "
              "needs the [ray] extra). Default: processes when that is faster (more than one core or GPU and more "
              "than one unit of work: a run, or runs stacked together), else local; ray when an experiment asks "
              "for early_stop.")
@click.option("--workers", type=click.IntRange(min=1), default=None, metavar="N",
              help="processes/ray: units of work that train at once (default: one per core, or one per GPU on "
              "CUDA); each worker's torch threads are cores // N unless system.threads is set.")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="ray: join the cluster at ADDR ('auto' or HOST:PORT, see `ray start`); default: start a "
              "local Ray instance.")
def replay(preset: Path, no_ui: bool, runs_dir: Path, data: tuple[str, ...], overrides: tuple[str, ...],
           only: tuple[str, ...], device: str | None, force: bool, seeds: int | None, no_stack: bool, data_root: Path,
           executor: str | None, workers: int | None, ray_address: str | None, keep_checkpoints: bool) -> None:
    """Run every experiment of PRESET (a TOML file) and write runs, figures
    and summaries. Finished runs are skipped unless --force; a run of the
    torch kinds that was cut short resumes from its last whole epoch
    (checkpoint.pt in its folder).

    Exit code 0 when every run ended ok or diverged, 1 when a run failed or
    was stopped (Ctrl-C or the bench's stop), 2 for bad input (preset, data,
    options)."""
    from engine.preset import load_preset
    from engine.study import ReplayOptions, plan

    started = time.perf_counter()
    ctx = click.get_current_context()
    for name in ("runs_dir", "data_root"):  # `benchtui --runs-dir X replay P` means X, not the default
        if ctx.get_parameter_source(name) == click.core.ParameterSource.DEFAULT and ctx.parent is not None \
                and ctx.parent.get_parameter_source(name) != click.core.ParameterSource.DEFAULT:
            if name == "runs_dir":
                runs_dir = ctx.parent.params[name]
            else:
                data_root = ctx.parent.params[name]
    if ray_address is not None and executor is None:
        executor = "ray"
    options = ReplayOptions(
        runs_dir=runs_dir, data_root=data_root, overrides=_pairs(overrides, "--set"),
        data_paths=_pairs(data, "--data"), only=list(only), device=device, force=force,
        stack=not no_stack, seeds=seeds, executor=executor, workers=workers, ray_address=ray_address,
        keep_checkpoints=keep_checkpoints,
    )
    if ray_address is not None and executor not in (None, "ray"):
        raise BenchError(f"--ray-address {ray_address}: only with --executor ray (got --executor {executor})")
    the_plan = plan(load_preset(preset), options)

    if not no_ui and sys.stdout.isatty():
        from benchtui.app import make_app

        app = make_app(runs_dir=runs_dir, data_root=data_root, presets_dir=preset.parent, plan=the_plan)
        app.run()
        result = app.sweep_result
        if result is None or result.stopped:
            click.echo("error: stopped before the sweep finished; finished runs are kept, replay again to resume",
                       err=True)
            sys.exit(1)  # the README's contract: stopped is 1, like failed
        counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items())) or "no runs"
        click.echo(f"{the_plan.preset.name}: {counts}; outputs in {runs_dir / the_plan.preset.name}")
        for line in result.problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(1 if result.problems else 0)

    stop = threading.Event()

    def on_sigint(signum, frame):  # first Ctrl-C stops cleanly, the second one aborts
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        summary = _run_console(the_plan, stop)
    finally:
        signal.signal(signal.SIGINT, previous)

    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items())) or "no runs"
    where = runs_dir / the_plan.preset.name
    click.echo(f"{the_plan.preset.name}: {counts} in {time.perf_counter() - started:.1f}s; outputs in {where}")
    if stop.is_set():
        click.echo("error: stopped by request; finished runs are kept, replay again to resume", err=True)
        sys.exit(1)  # the README's contract: stopped is 1, like failed
    if not summary.ok:
        for line in summary.problems:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)




def _run_console(the_plan, stop: threading.Event):
    from engine.study import replay as run_replay

    from benchtui.progress import PlainLog, RichProgress

    if sys.stdout.isatty():
        with RichProgress() as sink:
            return run_replay(the_plan, callbacks_for=lambda run: [sink], stop=stop, log=sink.log)
    sink = PlainLog()
    return run_replay(the_plan, callbacks_for=lambda run: [sink], stop=stop, log=sink.line)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
