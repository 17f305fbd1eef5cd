"""`python -m bench` end to end, tiny: every scenario runs and both reports are written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# Compaction every 3 writes, so that 7 answers compact and the cold read meets a log.
TINY = (
    "--s3-latency-ms", "2", "--other-latency-ms", "1", "--bandwidth-mbps", "0",
    "--small-cards", "60", "--large-cards", "300", "--huge-cards", "500",
    "--answers", "7", "--small-answers", "4", "--naive-answers", "2", "--warm-reads", "3",
    "--round-trips", "5", "--learners", "3", "--learner-answers", "2",
    "--writers", "2", "--adds-per-writer", "3", "--compaction-entries", "3",
    "--import-runs", "1", "--import-env", "dev", "--render-runs", "5",
)  # fmt: skip


def test_a_tiny_run_writes_both_reports(tmp_path: Path) -> None:
    out_json, out_md = tmp_path / "b.json", tmp_path / "b.md"
    result = subprocess.run(
        [sys.executable, "-m", "bench", *TINY, "--json", str(out_json), "--markdown", str(out_md)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # Targets may fail at these sizes; the run itself must not.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    results = json.loads(out_json.read_text())
    scenarios = results["scenarios"]
    assert set(scenarios) == {
        f"{design}.{size}.{kind}"
        for design in ("ours", "naive")
        for size in ("small", "large", "huge")
        for kind in ("review", "reads")
    } - {"naive.huge.reads"} | {
        "ours.large.reads-uniform",
        "ours.huge.cold",
        "ours.concurrent",
        "ours.writers",
        "naive.writers",
    }
    for name, scenario in scenarios.items():
        assert scenario["errors"] == 0 or name.endswith("writers"), name
        assert scenario["s3"]["requests"] > 0, name
    ours = scenarios["ours.writers"]
    assert ours["lostUpdates"] == 0
    assert ours["cardsStored"] == ours["cardsAcknowledged"] == 6
    # Every write of a day of study is seen at the proxy, and every S3 request during it
    # belongs to a call.
    for size in ("small", "large", "huge"):
        writes = scenarios[f"ours.{size}.review"]["writes"]
        assert writes["writes"] == scenarios[f"ours.{size}.review"]["answers"]
        assert writes["between"]["s3Requests"] == 0
        assert scenarios[f"ours.{size}.review"]["storage"]["retainedBytes"] > 0
    assert scenarios["ours.huge.cold"]["s3"]["requests"] >= 1
    assert set(results["render"]["kinds"]) == {"basic", "reversed", "cloze", "custom", "long"}
    assert results["render"]["all"]["n"] == 5 * 5
    assert len(results["targets"]) == 20
    verdicts = [line for line in result.stdout.splitlines() if line[:4] in ("PASS", "FAIL")]
    assert len(verdicts) == 20
    assert (result.returncode == 0) == all(t["passed"] for t in results["targets"])
    text = out_md.read_text()
    assert text.startswith("# Benchmarks") and "| target | measured | limit | result |" in text
