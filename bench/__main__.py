"""`python -m bench` (or `make bench`): run every scenario, check the targets, write the
reports (docs/benchmarks.json and docs/benchmarks.md), exit 1 if a target fails.
`--only render` times rendering a card alone and prints its target (seconds; no
servers, no reports written)."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from bench import report
from bench.render import time_rendering
from bench.run import Options, run_all
from bench.servers import ROOT


def _parse(argv: list[str] | None) -> tuple[Options, argparse.Namespace]:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    for option in dataclasses.fields(Options):
        flag = "--" + option.name.replace("_", "-")
        default = getattr(defaults, option.name)
        parser.add_argument(flag, type=type(default), default=default, help=f"(default {default})")
    parser.add_argument("--json", type=Path, default=ROOT / "docs" / "benchmarks.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--command", default=None, help="how to describe the run in the report")
    parser.add_argument(
        "--only",
        choices=("render",),
        default=None,
        help="run this scenario alone and print its target; the reports are not rewritten",
    )
    args = parser.parse_args(argv)
    names = {f.name for f in dataclasses.fields(Options)}
    try:
        options = Options(**{k: v for k, v in vars(args).items() if k in names})
    except ValueError as error:
        parser.error(str(error))
    return options, args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM behaves like Ctrl-C: unwinds through every `finally`, stopping the servers.
    raise KeyboardInterrupt


def _render_only(options: Options) -> int:
    print(f"rendering cards ({options.render_runs} runs of each kind), in process")
    render = time_rendering(options.render_runs)
    for key, kind in render["kinds"].items():
        lat = kind["latencyMs"]
        print(f"  {key:<10} p50 {lat['p50']:.3f} ms  p95 {lat['p95']:.3f} ms  ({kind['label']})")
    target = report.render_target(render)
    print(f"\n{'PASS' if target.passed else 'FAIL'}  {target.name}  {target.measured}")
    return 0 if target.passed else 1


def main(argv: list[str] | None = None) -> int:
    options, args = _parse(argv)
    if args.only == "render":
        return _render_only(options)
    signal.signal(signal.SIGTERM, _interrupt)
    command = args.command or "python -m bench " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    latency = f"S3 {options.s3_latency_ms:g} ms, others {options.other_latency_ms:g} ms"
    print(f"benchmark: added latency {latency} per request")
    started = time.perf_counter()
    try:
        results = run_all(options)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped", file=sys.stderr)
        return 130
    results = {
        "machine": report.machine(command.strip()),
        "options": dataclasses.asdict(options),
        "durationSeconds": round(time.perf_counter() - started, 1),
        **results,
    }
    targets = report.evaluate(results)
    report.write_json(args.json, results, targets)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(report.markdown(results, targets))
    print()
    width = max(len(t.name) for t in targets)
    for target in targets:
        print(f"{'PASS' if target.passed else 'FAIL'}  {target.name:<{width}}  {target.measured}")
    print(f"\nwritten: {args.json}, {args.markdown} ({results['durationSeconds']} s)")
    return 0 if all(t.passed for t in targets) else 1


if __name__ == "__main__":
    sys.exit(main())
