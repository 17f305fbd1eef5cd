#!/usr/bin/env python3
"""The CDK app: `cdk synth` / `cdk deploy` from this directory (or `python app.py`).

cdk-nag's AwsSolutions checks run at every synth as a CDK validation plugin: any finding
that is not acknowledged (with a reason) makes the synth fail with a report.
"""

import os
from pathlib import Path

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from javumbo_infra.names import STACK_NAME
from javumbo_infra.stack import JavumboStack

# The CDK CLI says where to write; run directly, write to cdk.out here, as the CLI would.
app = App(outdir=os.environ.get("CDK_OUTDIR", str(Path(__file__).parent / "cdk.out")))
JavumboStack(app, STACK_NAME, description="Javumbo: Anki-compatible flashcards API")
Validations.of(app).add_plugins(
    AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
)
app.synth()
