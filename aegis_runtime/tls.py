"""Mutual TLS settings and credentials: which certificate a process presents, which CA it
trusts, and the peer's identity as the server sees it.

With neither AEGIS_TLS_DIR nor the PEM settings set, everything is plaintext (the local
default, `make run`). With them, servers listen on TLS only and demand a client certificate
from the same CA; clients check that the server holds the certificate of the service they
meant to reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

CA_FILE = "ca.pem"
TLS_ENV_PREFIX = "AEGIS_TLS_"


def cert_file(name: str) -> str:
    return f"{name}.pem"


def key_file(name: str) -> str:
    return f"{name}.key"


class TlsSettings(BaseSettings):
    """Read by every service and every CLI command (env prefix AEGIS_TLS_)."""

    model_config = SettingsConfigDict(env_prefix=TLS_ENV_PREFIX, extra="ignore")

    dir: Path | None = Field(
        None,
        description="Folder of ca.pem and NAME.pem/NAME.key (`aegis cluster up --tls` makes "
        "STATE/tls); set, every server and client speaks mutual TLS.",
    )
    name: str = Field(
        "",
        description="Which certificate of dir to present; empty: the process's own (router, "
        "audit, the agent's name) or the CLI command's kind of caller (client, reviewer, "
        "operator).",
    )
    ca_pem: SecretStr | None = Field(
        None, description="The CA certificate itself, in place of dir (ECS injects it)."
    )
    cert_pem: SecretStr | None = Field(
        None, description="This process's certificate chain (PEM), in place of dir."
    )
    key_pem: SecretStr | None = Field(
        None, description="This process's private key (PEM), in place of dir."
    )

    @property
    def configured(self) -> bool:
        return self.dir is not None or any((self.ca_pem, self.cert_pem, self.key_pem))

    def identity(self, default_name: str) -> TlsIdentity | None:
        """The credentials this process presents, or None for plaintext."""
        pems = (self.ca_pem, self.cert_pem, self.key_pem)
        if any(pems):
            if not all(pems):
                raise ValueError("AEGIS_TLS_CA_PEM, _CERT_PEM and _KEY_PEM go together")
            ca, cert, key = (p.get_secret_value().encode() for p in pems if p is not None)
            return TlsIdentity(ca=ca, cert=cert, key=key)
        if self.dir is None:
            return None
        return TlsIdentity.from_dir(self.dir, self.name or default_name)


def service_identity(service: str, name: str) -> TlsIdentity | None:
    """A service's own credentials from its AEGIS_TLS_* settings (None: plaintext); settings
    that name missing files stop the start with one line saying which."""
    try:
        return TlsSettings().identity(name)
    except ValueError as exc:
        raise SystemExit(f"{service}: refusing to start: {exc}") from None


@dataclass(frozen=True, slots=True)
class TlsIdentity:
    """A certificate with its key, and the CA its peers must hold certificates of."""

    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def from_dir(cls, folder: Path, name: str) -> TlsIdentity:
        try:
            return cls(
                ca=(folder / CA_FILE).read_bytes(),
                cert=(folder / cert_file(name)).read_bytes(),
                key=(folder / key_file(name)).read_bytes(),
            )
        except FileNotFoundError as exc:
            raise ValueError(f"no TLS identity {name!r} in {folder}: {exc.filename} is "
                             "missing (aegis cluster up --tls makes them)") from None

    def server_credentials(self) -> grpc.ServerCredentials:
        """TLS that refuses a client without a certificate signed by our CA."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


def server_name_option(peer: str) -> tuple[str, str]:
    """The channel option that makes a client accept only the certificate issued to `peer`
    (its DNS SAN is the service's name), at whatever address the service answers."""
    return ("grpc.ssl_target_name_override", peer)


# gRPC sets it from a verified certificate holding exactly one URI SAN, a valid SPIFFE ID.
_SPIFFE_ID = "peer_spiffe_id"


def peer_identity(context: grpc.aio.ServicerContext) -> str | None:
    """The SPIFFE identity of the caller's verified certificate; None over plaintext or
    for a certificate without exactly one."""
    values = (context.auth_context() or {}).get(_SPIFFE_ID, ())
    return values[0].decode() if values else None
