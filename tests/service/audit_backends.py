"""The two audit backends of the contract suite (this module has no tests of its own): the
embedded one in a folder, the AWS one on moto's server (loopback HTTP, boto3 with its
endpoint URL; never a patched client), and a way to tamper with each one's stored bytes."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from audit_service.aws.clients import make_clients
from audit_service.aws.setup import init_storage
from audit_service.aws.store import AwsAuditStore
from audit_service.embedded.store import INDEX_FILE, EmbeddedAuditStore
from audit_service.log.layout import CHECKPOINT_ROOT, ROOT, parse_segment_key
from audit_service.settings import AuditSettings
from audit_service.storage import AuditStore

BACKENDS = ("embedded", "aws")
REGION = "us-east-1"
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto in server mode on a free loopback port; yields its endpoint URL."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    saved = {name: os.environ.get(name) for name in _CREDENTIALS}
    os.environ.update(_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Backend:
    """One backend's settings, and its stored bytes as an attacker with write access to
    the storage would see them: segment and checkpoint objects by key."""

    name: str
    settings: AuditSettings
    endpoint: str = ""

    def store(self, clock: Callable[[], float] = time.time) -> AuditStore:
        if self.name == "aws":
            return AwsAuditStore(self.settings, clock=clock, clients=clients_of(self.settings))
        return EmbeddedAuditStore(self.settings, clock=clock)

    @contextlib.asynccontextmanager
    async def running(self, clock: Callable[[], float] = time.time) -> AsyncIterator[Any]:
        store = self.store(clock)
        await store.start()
        try:
            yield store
        finally:
            await store.close()

    def with_settings(self, **overrides: Any) -> Backend:
        settings = self.settings.model_copy(update=overrides)
        return Backend(self.name, settings, self.endpoint)

    # The stored bytes.

    def _s3(self) -> Any:
        return clients_of(self.settings)[0]

    def keys(self, root: str) -> list[str]:
        if self.name == "aws":
            pages = self._s3().get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.s3_bucket, Prefix=f"{root}/"
            )
            return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
        folder = self.settings.data_dir / root
        return sorted(
            p.relative_to(self.settings.data_dir).as_posix() for p in folder.rglob("*")
            if p.is_file()
        ) if folder.is_dir() else []

    def segments(self) -> list[str]:
        """Segment keys in log order (one writer: by first seq)."""
        names = [parse_segment_key(key) for key in self.keys(ROOT)]
        return [n.key for n in sorted((n for n in names if n), key=lambda n: n.first_seq)]

    def checkpoints(self) -> list[str]:
        return self.keys(CHECKPOINT_ROOT)

    def read(self, key: str) -> bytes:
        if self.name == "aws":
            reply = self._s3().get_object(Bucket=self.settings.s3_bucket, Key=key)
            body: bytes = reply["Body"].read()
            return body
        return (self.settings.data_dir / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        """Replace the object's bytes (on S3: a new version; Object Lock keeps the old)."""
        if self.name == "aws":
            self._s3().put_object(Bucket=self.settings.s3_bucket, Key=key, Body=data)
        else:
            path = self.settings.data_dir / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def delete(self, key: str) -> None:
        """Make the object disappear (on S3: a delete marker over its locked versions)."""
        if self.name == "aws":
            self._s3().delete_object(Bucket=self.settings.s3_bucket, Key=key)
        else:
            (self.settings.data_dir / key).unlink()

    def lines(self) -> list[bytes]:
        """Every line of the log, in log order, without newlines."""
        return [line for key in self.segments() for line in self.read(key).splitlines()]

    def drop_index(self) -> None:
        """Lose the whole index: the SQLite files, or the DynamoDB table."""
        if self.name == "aws":
            ddb = clients_of(self.settings)[1]
            ddb.delete_table(TableName=self.settings.dynamodb_table)
            ddb.get_waiter("table_not_exists").wait(TableName=self.settings.dynamodb_table)
        else:
            for path in self.settings.data_dir.glob(f"{INDEX_FILE}*"):
                path.unlink()


def make_backend(name: str, tmp_path: Path, endpoint: str, **overrides: Any) -> Backend:
    """A fresh, empty backend: its own folder, or its own bucket and table on moto."""
    settings = AuditSettings(data_dir=tmp_path, environment="test", **overrides)
    if name == "embedded":
        return Backend(name, settings)
    suffix = uuid.uuid4().hex[:12]
    settings = settings.model_copy(update={
        "backend": "aws",
        "s3_bucket": f"aegis-audit-{suffix}",
        "dynamodb_table": f"aegis-audit-{suffix}",
        "aws_endpoint_url": endpoint,
        "aws_region": REGION,
        "aws_retry_s": 5.0,
    })
    init_storage(settings, clients_of(settings))
    return Backend(name, settings, endpoint)


_CLIENTS: dict[str, tuple[Any, Any]] = {}


def clients_of(settings: AuditSettings) -> tuple[Any, Any]:
    """One pair of clients per moto server: making a boto3 client takes a tenth of a second
    (it loads the service model), and they are thread-safe."""
    if settings.aws_endpoint_url not in _CLIENTS:
        _CLIENTS[settings.aws_endpoint_url] = make_clients(settings)
    return _CLIENTS[settings.aws_endpoint_url]


# Fixtures: a test module takes them with `backend = audit_backends.backend` (and the same
# for moto_endpoint), so every test that asks for `backend` runs once per backend.


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str) -> Backend:
    return make_backend(request.param, tmp_path, moto_endpoint)
