"""`sessdiag merge REPORT.json…`: one report from the reports of disjoint parts."""

from __future__ import annotations

from typing import Annotated

import typer

from sessdiag.cli.options import JsonOpt, OutputOpt, QuietOpt, emit


def merge(
    reports: Annotated[list[str], typer.Argument(
        help="Scan reports (sessdiag scan --json) of disjoint parts: partitions, hosts, "
             "Redis nodes; merged reports too.", metavar="REPORTS")],
    as_json: JsonOpt = False,
    output: OutputOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Join scan reports of disjoint parts into one report (counts add, groups and clients
    merge); overlapping parts or different lifetimes are refused."""
    from sessdiag.merging import load_report, merge_reports

    merged = merge_reports([load_report(p) for p in reports], reports)
    if as_json or quiet:
        emit(merged, as_json, output, quiet)
        return
    from sessdiag.render.terminal import scan_view

    emit(merged, as_json, output, quiet, scan_view)
