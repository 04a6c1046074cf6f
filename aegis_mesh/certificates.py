"""A local certificate authority for the cluster's mutual TLS: ca.pem, and NAME.pem/NAME.key
for every service (router, audit, each agent, the stream consumer) and every kind of caller
(client, reviewer, operator), in one folder (`aegis cluster up --tls` uses STATE/tls).

Each leaf carries its identity as a SPIFFE URI SAN (aegis_domain.authorization) and its name
as a DNS SAN: clients check a server's certificate against the name of the service they
meant to reach (TlsIdentity.channel_options), whatever address it answers at.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from aegis_domain.authorization import Role, spiffe_id
from aegis_domain.registry import Registry, default_registry
from aegis_runtime.tls import CA_FILE, cert_file, key_file

# The reviewer of a local cluster; a real desk issues one certificate per person.
LOCAL_REVIEWER = "local"
# Long enough for a development cluster, short enough that a copied key soon expires.
_VALID_FOR = datetime.timedelta(days=30)
# Clock skew between this machine and a container reading the certificate.
_BACKDATE = datetime.timedelta(minutes=5)


def cluster_identities(registry: Registry | None = None) -> dict[str, str]:
    """File name -> SPIFFE identity of every certificate a local cluster needs."""
    registry = registry or default_registry()
    return {
        "router": spiffe_id(Role.ROUTER),
        "audit": spiffe_id(Role.AUDIT),
        **{name: spiffe_id(Role.AGENT, name) for name in registry.names},
        "client": spiffe_id(Role.CLIENT),
        "ingest": spiffe_id(Role.INGEST),
        "reviewer": spiffe_id(Role.REVIEWER, LOCAL_REVIEWER),
        "operator": spiffe_id(Role.OPERATOR),
    }


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: str, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALID_FOR)
    )


def make_ca(
    common_name: str = "aegis local CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign leaves only (path length 0)."""
    key = _key()
    certificate = (
        _builder(common_name, common_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          key_cert_sign=True, crl_sign=True, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_certificate: x509.Certificate, name: str,
    identity: str,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf for `name` holding `identity`, good as server and as client certificate."""
    key = _key()
    issuer = ca_certificate.subject.rfc4514_string().removeprefix("CN=")
    certificate = (
        _builder(name, issuer, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(identity), x509.DNSName(name)]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                   ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    # Created with its final mode: a private key is never readable by others, not even briefly.
    partial = path.with_suffix(path.suffix + ".tmp")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    partial.replace(path)


def write_identities(folder: Path, identities: dict[str, str]) -> None:
    """A new CA and one certificate per entry of `identities` (file name -> identity)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca_key, ca_certificate = make_ca()
    _write(folder / CA_FILE, _pem(ca_certificate), 0o644)
    for name, identity in identities.items():
        key, certificate = issue(ca_key, ca_certificate, name, identity)
        _write(folder / key_file(name), _key_pem(key), 0o600)
        _write(folder / cert_file(name), _pem(certificate), 0o644)


def ensure_identities(folder: Path, identities: dict[str, str]) -> bool:
    """Make the folder's CA and certificates unless every one is there already (a running
    cluster keeps the CA its services trust); True when new ones were made."""
    if (folder / CA_FILE).exists() and all(
        (folder / cert_file(n)).exists() and (folder / key_file(n)).exists() for n in identities
    ):
        return False
    write_identities(folder, identities)
    return True
