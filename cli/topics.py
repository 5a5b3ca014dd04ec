"""``streamrec topics …``: streamrec's Kafka topics."""

from __future__ import annotations

import asyncio
import signal

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cli.output import console, err_console, json_line, print_json, printable, settings_of
from infra.settings import Settings
from streams import topic_admin, topic_inspect, topic_tail
from streams.batch_consumer import hidden_group, ratings_group
from streams.topic_tail import ShownRecord

app = typer.Typer(help="Inspect and create streamrec's Kafka topics.", no_args_is_help=True)


@app.command()
def create(ctx: typer.Context) -> None:
    """Create streamrec's topics with the configured partitions (idempotent)."""
    settings = settings_of(ctx)
    created = asyncio.run(topic_admin.ensure_topics(settings))
    if created:
        console.print(f"created: {', '.join(created)}", highlight=False)
    else:
        console.print("all topics exist", highlight=False)


def print_rows(title: str, columns: list[str], rows: list[list[object]], right: int = 0) -> None:
    """A table whose cells are never cut (long topic names fold); no markup in cells."""
    console.print(Text(title, style="bold"), soft_wrap=True)
    table = Table()
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", justify="right" if i >= len(columns) - right else "left")
    for row in rows:
        table.add_row(*(Text("-" if cell is None else printable(str(cell))) for cell in row))
    if console.is_terminal:
        console.print(table)
    else:  # piped: the natural width, so scripts and logs see whole names
        wide = Console(file=console.file, width=1000)
        width = Measurement.get(wide, wide.options, table).maximum
        Console(file=console.file, width=max(width, console.width)).print(table)


async def _list(settings: Settings, include_all: bool) -> list[topic_inspect.TopicInfo]:
    async with topic_inspect.connect(settings) as kafka:
        return await topic_inspect.list_topics(kafka, include_all=include_all)


@app.command("list")
def list_(
    ctx: typer.Context,
    include_all: bool = typer.Option(
        False, "--all", help="Every topic of the cluster, not only streamrec's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """streamrec's topics (those with the configured prefix): partitions, replication, offsets."""
    settings = settings_of(ctx)
    infos = asyncio.run(_list(settings, include_all))
    if as_json:
        print_json([info.as_json() for info in infos])
        return
    if not infos:
        console.print(f"no topic with prefix {settings.topic_prefix!r}; create them with "
                      "`streamrec topics create`", highlight=False, markup=False)
        return
    print_rows(
        "all topics" if include_all else f"streamrec topics (prefix {settings.topic_prefix!r})",
        ["topic", "partitions", "replication", "end offsets", "messages"],
        [[info.name, len(info.partitions), info.replication, info.end_offsets, info.messages]
         for info in infos],
        right=4,
    )


async def _describe(settings: Settings, name: str) -> topic_inspect.TopicInfo:
    async with topic_inspect.connect(settings) as kafka:
        return await topic_inspect.describe_topic(kafka, name)


@app.command()
def describe(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Short name (ratings) or full topic name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Per partition: leader, replicas, earliest and latest offset."""
    info = asyncio.run(_describe(settings_of(ctx), name))
    if as_json:
        print_json({**info.as_json(), "partition_offsets": [
            {"partition": p.partition, "leader": p.leader, "replicas": p.replicas,
             "earliest": p.earliest, "latest": p.latest, "messages": p.messages}
            for p in info.partitions]})
        return
    print_rows(
        f"{info.name}: {len(info.partitions)} partition(s), replication {info.replication}, "
        f"{info.messages} message(s)",
        ["partition", "leader", "replicas", "earliest", "latest", "messages"],
        [[p.partition, p.leader, p.replicas, p.earliest, p.latest, p.messages] for p in info.partitions],
        right=6,
    )


def _print_record(shown: ShownRecord, as_json: bool) -> None:
    if as_json:
        typer.echo(json_line(shown.data))
    else:
        console.print(Text.assemble((shown.meta, "dim"), " ", shown.body), soft_wrap=True, highlight=False)


async def _tail(settings: Settings, name: str, n: int, follow: bool, from_beginning: bool,
                as_json: bool) -> int:
    shown = 0
    async with topic_inspect.connect(settings) as kafka:
        topic = topic_inspect.resolve_topic(settings, name, await kafka.topic_names())
        dead_letters = topic == settings.topic("ratings-dlq")
        async for record in topic_tail.read_existing(kafka, topic, last=None if from_beginning else n):
            _print_record(topic_tail.show(record, dead_letters=dead_letters), as_json)
            shown += 1
        if follow:
            if not as_json:
                err_console.print(f"following {topic}; Ctrl-C stops", highlight=False, markup=False)
            # Ctrl-C sets a flag the loop checks, rather than cancelling the task: a
            # cancellation that lands inside aiokafka's fetch can be swallowed (an
            # asyncio.wait_for race), and the command would go on following.
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGINT, stop.set)
            try:
                async for record in topic_tail.follow(kafka, until=stop):
                    _print_record(topic_tail.show(record, dead_letters=dead_letters), as_json)
                    shown += 1
            finally:
                loop.remove_signal_handler(signal.SIGINT)
    return shown


@app.command()
def tail(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Short name (ratings, ratings-dlq, …) or full topic name."),
    n: int = typer.Option(10, "-n", "--lines", min=0, help="How many of the last messages to show."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new messages until Ctrl-C."),
    from_beginning: bool = typer.Option(
        False, "--from-beginning", help="Show every message from the earliest offset (-n is ignored)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message."),
) -> None:
    """The last N messages of a topic, decoded: ratings as JSON, dead letters with their
    reason and the original bytes; anything that is not text is shown as hex."""
    settings = settings_of(ctx)
    try:
        shown = asyncio.run(_tail(settings, name, n, follow, from_beginning, as_json))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    if shown == 0 and not as_json:
        err_console.print("no messages", highlight=False)


async def _lag(settings: Settings, groups: list[str]) -> list[topic_inspect.GroupLag]:
    """Each group's lag; of several groups, those that do not exist are left out (an
    error only if none exists)."""
    async with topic_inspect.connect(settings) as kafka:
        found: list[topic_inspect.GroupLag] = []
        first_error: topic_inspect.UnknownGroup | None = None
        for group in groups:
            try:
                found.append(await topic_inspect.group_lag(kafka, group))
            except topic_inspect.UnknownGroup as err:
                first_error = first_error or err
        if not found and first_error is not None:
            raise first_error
        return found


@app.command()
def lag(
    ctx: typer.Context,
    group: str | None = typer.Option(
        None, "--group", "-g",
        help="Consumer group (default: the worker's three, STREAMREC_APP_ID, "
             "STREAMREC_APP_ID-ratings and STREAMREC_APP_ID-hidden).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list without --group)."),
) -> None:
    """A consumer group's lag per partition of each topic it consumes: end offset,
    committed offset, lag (from the earliest offset where nothing is committed), total.
    Without --group: the worker's Faust group and its ratings and hidden-items consumers' groups."""
    settings = settings_of(ctx)
    groups = [group] if group else [settings.app_id, ratings_group(settings), hidden_group(settings)]
    results = asyncio.run(_lag(settings, groups))
    if as_json:
        print_json(results[0].as_json() if group else [r.as_json() for r in results])
        return
    for result in results:
        print_rows(
            f"group {result.group}: {result.state}, {result.members} member(s), "
            f"total lag {result.total}",
            ["topic", "partition", "end offset", "committed", "lag"],
            [[row.topic, row.partition, row.end, row.committed, lag] for row, lag in result.rows],
            right=4,
        )
