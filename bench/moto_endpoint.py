"""moto server on a free loopback port for a benchmark: S3, DynamoDB and SQS with no AWS account."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import local_env
from moto.server import ThreadedMotoServer


@contextmanager
def moto_endpoint(access_key: str = "local") -> Iterator[str]:
    """The endpoint URL; boto3's environment (endpoint, fake credentials, region) points at it meanwhile."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = local_env.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=access_key,
                      AWS_DEFAULT_REGION=local_env.REGION)
    try:
        yield endpoint
    finally:
        server.stop()
