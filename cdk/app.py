#!/usr/bin/env python3
"""The CDK app: `cdk synth` / `cdk deploy` from this directory (or `python app.py`).

cdk-nag's AwsSolutions checks run at every synth as a CDK validation plugin: any finding
that is not acknowledged (with a reason) makes the synth fail with a report.

Assets (the function's code) are published, by default, through the roles of the
account's bootstrap stack (`cdk bootstrap`). With `-c javumbo:assetsBucket=<bucket>`
they are uploaded to that existing bucket with the CLI's own credentials and the stack
is deployed with them too: no bootstrap stack, hence no IAM roles, which restricted lab
accounts may not create.
"""

import os
from pathlib import Path

from aws_cdk import App, CliCredentialsStackSynthesizer, IStackSynthesizer, Validations
from cdk_nag import AwsSolutionsChecks

from javumbo_infra.names import ASSETS_BUCKET_PREFIX, STACK_NAME
from javumbo_infra.settings import assets_bucket_from_context
from javumbo_infra.stack import JavumboStack


def synthesizer(app: App) -> IStackSynthesizer | None:
    """The CLI-credentials synthesizer when an assets bucket is given, else the default."""
    bucket = assets_bucket_from_context(app.node)
    if bucket is None:
        return None
    return CliCredentialsStackSynthesizer(
        file_assets_bucket_name=bucket, bucket_prefix=ASSETS_BUCKET_PREFIX
    )


# The CDK CLI says where to write; run directly, write to cdk.out here, as the CLI would.
app = App(outdir=os.environ.get("CDK_OUTDIR", str(Path(__file__).parent / "cdk.out")))
JavumboStack(
    app,
    STACK_NAME,
    description="Javumbo: Anki-compatible flashcards API",
    synthesizer=synthesizer(app),
)
Validations.of(app).add_plugins(
    AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
)
app.synth()
