"""Watching a run with a progress bar (terminal or notebook, through rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .client import Progress as RunProgress
from .client import RunFailed, Runner, RunResult


def watch_with_progress(runner: Runner, arn: str, name: str, console: Console, disable: bool = False) -> RunResult:
    """Watch a run to its end, showing chunks done/total; Ctrl-C stops the execution and re-raises.

    Raises
    ------
    RunFailed
        When the run ends in any state but SUCCEEDED.
    KeyboardInterrupt
        After stopping the execution (StopExecution).
    """
    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Outside a terminal or a notebook (a log file, a pipe) a bar would only add its last frame.
    disable = disable or not (console.is_terminal or console.is_jupyter)
    with Progress(*columns, console=console, transient=False, disable=disable) as bar:
        task = bar.add_task("Partition", total=None)

        def update(progress: RunProgress) -> None:
            bar.update(task, description=progress.stage, total=progress.chunks_total, completed=progress.chunks_done)

        try:
            result = runner.watch(arn, name, update)
        except KeyboardInterrupt:
            bar.live.transient = True  # the bar goes: the caller's one line says what happened
            runner.stop(arn, "stopped by the user (Ctrl-C)")
            raise
        except RunFailed:
            bar.update(task, description="Failed")
            raise
        chunks = result.summary.get("chunks")
        bar.update(task, description="Done", total=chunks, completed=chunks)
        return result
