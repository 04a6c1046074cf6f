"""`python -m audit_service`: serve the audit service (settings from AEGIS_AUDIT_*)."""

from __future__ import annotations

from aegis_runtime.server import serve
from aegis_runtime.tls import service_identity
from audit_service.component import AuditComponent
from audit_service.settings import AuditSettings


def main() -> None:
    settings = AuditSettings()
    serve("audit", settings, lambda: AuditComponent(settings), service_identity("audit", "audit"))


if __name__ == "__main__":
    main()
