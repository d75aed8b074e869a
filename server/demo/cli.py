"""`pingyi demo ...`: seed a demonstration organisation and rounds."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from server.demo.seed import seed_demo

demo_cli = click.Group("demo", help="Demonstration data for `make run`.")


SHOWN_PROJECTORS = 3


def rebased(url: str, base: str) -> str:
    """A sample voting link at `base` (the demo is seeded once; the address may change)."""
    _, sep, rest = url.partition("/v/")  # a round's /v/#… or a meeting's /v/m/#…
    return f"{base}/v/{rest}" if sep else url


@demo_cli.command("seed")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True,
              help="where phones will reach the server (goes into the QR codes)")
@with_appcontext
def seed(base_url: str) -> None:
    """Create the demo (once) and print a short summary of where to go."""
    info = seed_demo(base_url)
    base = base_url.rstrip("/")
    pad = " " * 17
    click.echo(f"  console      : {base}/console/   login {info['user']} / {info['password']}"
               " (demo only)")
    # The first rounds' projectors; the rest (rehearsal, decided, combined, meeting,
    # paper examples) are one click away on the rounds list.
    shown = info["rounds"][:SHOWN_PROJECTORS]
    for i, (rid, title, _status) in enumerate(shown):
        label = "  projectors   : " if i == 0 else pad
        click.echo(f"{label}{base}/console/rounds/{rid}/projector   {title}")
    if len(info["rounds"]) > len(shown):
        click.echo(f"{pad}{base}/console/rounds   其余 {len(info['rounds']) - len(shown)} 个测评"
                   "（演练、考核等次、综合考核、测评会、纸质票示例）")
    if info.get("forms"):
        names = "、".join(name for _, name in info["forms"][:3])
        click.echo(f"  forms        : {base}/console/forms   测评表 {names}")
    click.echo(f"  assessments  : {base}/console/assessments   综合考核、考核等次、历年对比")
    meeting = next((u for u in info["samples"] if "/v/m/#" in u), None)
    if meeting:
        click.echo(f"  meeting      : {base}/console/meetings   测评会：三份测评表，一张选票")
        click.echo(f"{pad}{rebased(meeting, base)}")
    paper = next((rid for rid, title, _ in info["rounds"] if "纸质票" in title), None)
    if paper:
        click.echo(f"  paper        : {base}/console/rounds/{paper}/paper   纸质票双人录入"
                   "（一张待第二人录入）")
    slips = info["slips"]
    if slips:
        folder = Path(slips[0]).parent
        if folder.is_relative_to(Path.cwd()):
            folder = folder.relative_to(Path.cwd())
        click.echo(f"  slips (PDF)  : {folder}/  ({len(slips)} files, slips-round*.pdf)")
        printed_for = info["samples"][0].partition("/v/#")[0] if info["samples"] else base
        if printed_for != base:
            click.echo(f"{pad}(printed for {printed_for}; delete instance/ to print them again)")
    for i, url in enumerate([u for u in info["samples"] if "/v/#" in u][:3]):
        label = "  vote links   : " if i == 0 else pad
        click.echo(f"{label}{rebased(url, base)}")
    click.echo(f"  API          : {base}/api/v1/openapi.json")
