"""``streamrec dlq list | replay``: the dead-letter topic."""

from __future__ import annotations

import asyncio

import typer

from cli.output import console, print_json, settings_of
from cli.topics import print_rows
from infra.settings import Settings
from streams import dlq_replay, topic_inspect
from streams import skip as skip_message
from streams.deadletter import original_bytes
from streams.topic_tail import preview

app = typer.Typer(help="List and replay the dead-letter topic (ratings-dlq).", no_args_is_help=True)


def _rows(letters: list[dlq_replay.Letter]) -> list[list[object]]:
    rows: list[list[object]] = []
    for item in letters:
        letter = item.letter
        if letter is None:
            rows.append([item.offset, "(not a dead letter)", "", "", "", "", item.status])
            continue
        key, value = original_bytes(letter)
        rows.append([
            item.offset, letter.reason, letter.detail,
            f"{letter.source_partition}@{letter.source_offset}",
            letter.failed_at.isoformat(timespec="seconds"),
            f"key={preview(key, 20)} {preview(value, 80)}",
            item.status,
        ])
    return rows


async def _list(settings: Settings, limit: int, reason: str | None) -> list[dlq_replay.Letter]:
    async with topic_inspect.connect(settings) as kafka:
        return await dlq_replay.list_letters(kafka, limit=limit, reason=reason)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show the last N letters."),
    reason: str | None = typer.Option(None, "--reason", help="Only letters with this reason code."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The last dead letters: reason, where they came from (partition@offset of the
    ratings topic), when, a preview of the original bytes, and whether `dlq replay`
    has republished them."""
    settings = settings_of(ctx)
    letters = asyncio.run(_list(settings, limit, reason))
    if as_json:
        print_json([item.as_json() for item in letters])
        return
    if not letters:
        console.print("the dead-letter topic is empty" + (f" for reason {reason!r}" if reason else ""),
                      highlight=False, markup=False)
        return
    print_rows(
        f"{dlq_replay.dlq_topic(settings)}: last {len(letters)} letter(s)",
        ["offset", "reason", "detail", "source", "failed at", "original", "status"],
        _rows(letters),
    )


async def _replay(settings: Settings, reason: str | None, dry_run: bool) -> dlq_replay.ReplayOutcome:
    async with topic_inspect.connect(settings) as kafka:
        return await dlq_replay.replay(kafka, reason=reason, dry_run=dry_run)


@app.command()
def replay(
    ctx: typer.Context,
    reason: str | None = typer.Option(
        None, "--reason", help="Only letters with this reason code (e.g. unknown_movie); the others "
        "stay replayable."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed; send and "
                                 "record nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Republish dead-lettered events (their original key and value bytes) to the ratings
    topic, e.g. after adding a missing movie.

    Each letter is replayed once: progress is kept by the consumer group
    <STREAMREC_APP_ID>-dlq-replay and committed after the broker acknowledged the events.
    An event that fails again is dead-lettered again by the worker, so it is never lost.
    An event published without an event_id gets a new one derived from its new offset.
    """
    settings = settings_of(ctx)
    outcome = asyncio.run(_replay(settings, reason, dry_run))
    if as_json:
        print_json(outcome.as_json())
        return
    if outcome.replayed:
        print_rows(
            "would replay" if dry_run else f"replayed to {settings.topic('ratings')}",
            ["offset", "reason", "detail", "source", "failed at", "original", "status"],
            _rows(outcome.replayed),
        )
    verb = "would replay" if dry_run else "replayed"
    summary = f"{verb} {len(outcome.replayed)} letter(s)"
    extras = [f"{outcome.already_replayed} replayed before", f"{outcome.skipped} of other reasons kept"]
    if outcome.still_failing:
        print_rows("left in place: these would fail again for the same reason",
                   ["offset", "reason", "detail", "source", "failed at", "original", "status"],
                   _rows(outcome.still_failing))
        extras.append(f"{len(outcome.still_failing)} that would fail again left")
    if outcome.unreadable:
        extras.append(f"{outcome.unreadable} unreadable skipped")
    if outcome.unknown_reason:
        extras.append(f"{outcome.unknown_reason} of reasons streamrec does not know left")
    console.print(f"{summary} ({', '.join(extras)}); group {outcome.group}"
                  + ("; dry run: nothing sent or recorded" if dry_run else ""),
                  highlight=False, markup=False)
    if outcome.stopped_early_at is not None:
        console.print(f"stopped at DLQ offset {outcome.stopped_early_at}: too many letters of other "
                      "reasons in between; run again without --reason or for those reasons",
                      highlight=False, markup=False)


@app.command()
def skip(
    ctx: typer.Context,
    partition: int = typer.Option(..., "--partition", min=0, help="The ratings partition that is stuck."),
    offset: int = typer.Option(..., "--offset", min=0, help="The offset of the message to skip "
                               "(the group's committed offset, as `streamrec topics lag` shows)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Move the ratings consumer past one message that stops its partition.

    The message is dead-lettered first (reason skipped_by_operator), then the group
    <STREAMREC_APP_ID>-ratings is committed past it. Stop every worker first: Kafka moves
    a group's offsets only while it has no members.
    """
    settings = settings_of(ctx)

    async def run() -> skip_message.Skipped:
        async with topic_inspect.connect(settings) as kafka:
            return await skip_message.skip(kafka, partition=partition, offset=offset)

    skipped = asyncio.run(run())
    if as_json:
        print_json(skipped.as_json())
        return
    console.print(f"skipped {skipped.topic} partition {skipped.partition} offset {skipped.offset} "
                  f"({skipped.size} bytes): dead-lettered at DLQ offset {skipped.letter_offset}; "
                  f"{skipped.group} resumes at offset {skipped.offset + 1}", highlight=False, markup=False)
