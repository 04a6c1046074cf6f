"""Mutual TLS on ECS, always on: each task's CA, certificate and key come from its own
Secrets Manager secret, which only that service's execution role may read."""

from __future__ import annotations

from ecs.audit_task import SECRET_ACTIONS
from ecs.cfn import Json, sub
from ecs.services import DeployedService

TLS_SECRET_PREFIX_PARAMETER = "TlsSecretPrefix"
TLS_PARAMETER: Json = {
    "Type": "String",
    "Default": "aegis/tls",
    "AllowedPattern": "^[A-Za-z0-9/_+=.@-]{1,200}$",
    "Description": "Secrets Manager secrets PREFIX/SERVICE (router, audit, each agent), each a "
    "JSON object of PEM strings: ca (the private CA's certificate), cert (the service's, with "
    "URI SAN spiffe://aegis/... and DNS SAN SERVICE) and key.",
}
# The runtime's settings (aegis_runtime.tls.TlsSettings) -> the key of the secret's JSON.
SECRET_KEYS = {"AEGIS_TLS_CA_PEM": "ca", "AEGIS_TLS_CERT_PEM": "cert", "AEGIS_TLS_KEY_PEM": "key"}


def _secret_arn(service: DeployedService) -> str:
    """The secret's partial ARN (no random suffix): ECS accepts it in ValueFrom, as the CDK's
    Secret.fromSecretNameV2 relies on (aws/aws-cdk#11042); a name must then not end in a
    hyphen and six characters, which a registry name (snake_case) never does."""
    return ("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:"
            f"${{{TLS_SECRET_PREFIX_PARAMETER}}}/{service.name}")


def tls_secrets(service: DeployedService) -> list[Json]:
    """ECS injects each PEM from the service's secret; none appears in the template."""
    return [
        {"Name": name, "ValueFrom": sub(f"{_secret_arn(service)}:{key}::")}
        for name, key in SECRET_KEYS.items()
    ]


def tls_read_statements(service: DeployedService) -> list[Json]:
    """Reading the service's own secret, and no other: Secrets Manager appends six random
    characters to a secret's name in its ARN."""
    return [{"Effect": "Allow", "Action": list(SECRET_ACTIONS),
             "Resource": sub(f"{_secret_arn(service)}-??????")}]
