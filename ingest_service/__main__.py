"""`python -m ingest_service`: run the stream consumer (settings from AEGIS_INGEST_*)."""

from __future__ import annotations

from aegis_runtime.server import serve
from aegis_runtime.tls import service_identity
from ingest_service.component import IngestComponent
from ingest_service.settings import IngestSettings


def main() -> None:
    settings = IngestSettings()
    tls = service_identity("ingest", "ingest")
    serve("ingest", settings, lambda: IngestComponent(settings, tls), tls)


if __name__ == "__main__":
    main()
