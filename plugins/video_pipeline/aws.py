"""boto3 clients from the Airflow AWS connection: one session for S3 and DynamoDB, made once per process.

An Airflow AWS hook makes a boto3 session of its own, and the first client of every session reads
botocore's endpoint data and the service's model again: 0.06 to 0.2 s of CPU. register and publish
each paid that twice (an S3Hook and a DynamoDBHook), and ``airflow dags test``, which runs every task
and callback in one process, once more per stage callback. ``shared_clients`` keeps one session per
connection: a task process runs one task, its callbacks included.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property, lru_cache
from typing import Any


class Clients:
    """The connection's session and the clients made from it, each on first use."""

    def __init__(self, conn_id: str) -> None:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        self.hook = AwsBaseHook(aws_conn_id=conn_id)  # the connection's endpoint, region, role, config

    @cached_property
    def session(self) -> Any:
        return self.hook.get_session(region_name=self.hook.region_name)

    def _options(self, service: str) -> dict[str, Any]:
        """What the hook would give the service's client: its endpoint (moto's, locally), config, TLS."""
        return {"endpoint_url": self.hook.conn_config.get_service_endpoint_url(service_name=service),
                "config": self.hook.config, "verify": self.hook.verify}

    @cached_property
    def s3(self) -> Any:
        return self.session.client("s3", **self._options("s3"))

    @cached_property
    def dynamodb(self) -> Any:
        """The DynamoDB resource (tables as ``Table`` objects)."""
        return self.session.resource("dynamodb", **self._options("dynamodb"))

    def head_object(self, bucket: str, key: str) -> dict[str, Any] | None:
        """The object's HeadObject answer; None when there is no such object (as S3Hook.head_object)."""
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise
        return head


def shared_clients(conn_id: str) -> Clients:
    """This thread's clients of the connection (boto3 resources are not thread-safe), kept while the
    connection and the ``AWS_*`` environment stay as they were: looking them up costs well under a
    millisecond, and tests change both."""
    aws_env = tuple(sorted((name, value) for name, value in os.environ.items() if name.startswith("AWS_")))
    return _clients(conn_id, _connection_uri(conn_id), aws_env, threading.get_ident())


def _connection_uri(conn_id: str) -> str | None:
    """None where the connection is not defined: the hook then takes boto3's defaults (``AWS_*``)."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

    try:
        uri: str = BaseHook.get_connection(conn_id).get_uri()
    except AirflowNotFoundException:
        return None
    return uri


@lru_cache(maxsize=8)
def _clients(conn_id: str, *_definition: object) -> Clients:
    return Clients(conn_id)
