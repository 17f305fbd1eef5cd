"""The AWS Lambda entry point: the same ASGI app, adapted by Mangum.

Importing this module builds the app but no AWS client: clients, the signing secret
and the disk cache are created on the first request that needs them.
"""

from mangum import Mangum

from api.main import app

# lifespan="off": the app has no start-up work, and Lambda has no shutdown to wait for.
# Mangum base64-encodes binary bodies (.apkg exports) for API Gateway.
handler = Mangum(app, lifespan="off")
