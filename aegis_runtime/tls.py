"""Mutual TLS settings and credentials: which certificate a process presents, which CA it
trusts, and the peer's identity as the server sees it.

With neither AEGIS_TLS_DIR nor the PEM settings set, everything is plaintext (the local
default, `make run`). With them, servers listen on TLS only and demand a client certificate
from the same CA; clients check that the server holds the certificate of the service they
meant to reach.
"""

from __future__ import annotations

import socket
import ssl
import tempfile
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


# What a caller whose certificate the server refused is told first (the words the operator
# searches for): gRPC itself says only "Socket closed".
NOT_OUR_CA = "TLS handshake refused: certificate not from our CA"


def handshake_refusal(
    address: str, identity: TlsIdentity | None, peer: str, timeout_s: float = 2.0
) -> str | None:
    """Why a TLS handshake with the server at `address` fails, in words; None when it
    succeeds or the server cannot be reached at all.

    gRPC Python reports every failed handshake as UNAVAILABLE and cannot get past one to
    answer UNAUTHENTICATED: `ssl_server_credentials` either requires and verifies a client
    certificate in the handshake or requests none. So a client that failed makes this
    handshake apart, with Python's ssl, to tell which side refused. With `identity` None (a
    plaintext caller), it only asks whether the server speaks TLS."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_alpn_protocols(["h2"])
    if identity is None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context.load_verify_locations(cadata=identity.ca.decode())
        _load_identity(context, identity)
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout_s) as raw, \
                context.wrap_socket(raw, server_hostname=peer) as tls:
            if identity is None:
                return ("the server speaks TLS only: set AEGIS_TLS_DIR (aegis cluster up "
                        "--tls makes STATE/tls)")
            # TLS 1.3: the server judges the client's certificate after the client's side
            # of the handshake ends, then closes (a refusal) or sends its HTTP/2 settings.
            return NOT_OUR_CA if tls.recv(1) == b"" else None
    except ssl.SSLCertVerificationError as exc:
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return f"TLS handshake refused: the server at {address} is not {peer!r}"
        return (f"TLS handshake refused: the server's certificate is not from our CA "
                f"({exc.verify_message})")
    except ssl.SSLError as exc:
        if identity is None:
            return None
        if "ALERT" in (exc.reason or ""):
            return f"{NOT_OUR_CA} ({exc.reason})"
        return f"the server at {address} does not speak TLS"
    except (OSError, ValueError):
        return None


# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: the certificate names another service.
_HOSTNAME_MISMATCH = 62


def _load_identity(context: ssl.SSLContext, identity: TlsIdentity) -> None:
    """ssl reads a certificate and key from files only: a private folder, gone at once."""
    with tempfile.TemporaryDirectory() as folder:
        cert, key = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert.write_bytes(identity.cert)
        key.touch(mode=0o600)
        key.write_bytes(identity.key)
        context.load_cert_chain(cert, key)
