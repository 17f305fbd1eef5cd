"""cfn-lint finds no errors in the template `python app.py` synthesizes."""

from __future__ import annotations

from pathlib import Path

from cfnlint.api import lint_file

from javumbo_infra.names import STACK_NAME


def test_template_has_no_cfn_lint_errors(synthesized_app: Path) -> None:
    matches = lint_file(synthesized_app / f"{STACK_NAME}.template.json")
    for match in matches:
        print(match)
    errors = [str(match) for match in matches if match.rule.id.startswith("E")]
    assert errors == []
