"""Ground truth of a generated login: which attack it belongs to, or which hard case it is."""

from __future__ import annotations

from dataclasses import dataclass

CREDENTIAL_STUFFING = "credential_stuffing"
PASSWORD_SPRAY = "password_spray"
TARGETED_TAKEOVER = "targeted_takeover"
SESSION_HIJACK = "session_hijack"
FRAUD_RING = "fraud_ring"
LOW_AND_SLOW = "low_and_slow"
ATTACK_TYPES = (
    CREDENTIAL_STUFFING, PASSWORD_SPRAY, TARGETED_TAKEOVER, SESSION_HIJACK, FRAUD_RING,
    LOW_AND_SLOW,
)
# Attacks run from infrastructure that hits many accounts: RBA's "Is Attack IP".
BULK_ATTACKS = frozenset({CREDENTIAL_STUFFING, PASSWORD_SPRAY})

# Legitimate logins that look like attacks to a naive rule.
TRAVEL = "travel"
NEW_DEVICE = "new_device"
VPN = "vpn"
SHARED_DEVICE = "shared_device"
FORGOTTEN_PASSWORD = "forgotten_password"
NEW_ACCOUNT = "new_account"
HARD_CASES = (TRAVEL, NEW_DEVICE, VPN, SHARED_DEVICE, FORGOTTEN_PASSWORD, NEW_ACCOUNT)


@dataclass(frozen=True, slots=True)
class Truth:
    """What a login really was. Kept beside the event, never in it: agents must not see it.

    attack: one of ATTACK_TYPES, or "" for the account owner's own login.
    campaign: the attack campaign the login belongs to ("" for legitimate logins).
    hard_case: for a legitimate login, one of HARD_CASES when it is one, else "".
    """

    attack: str = ""
    campaign: str = ""
    hard_case: str = ""

    @property
    def is_attack(self) -> bool:
        return bool(self.attack)

    @property
    def is_attack_ip(self) -> bool:
        """RBA's label: the attempt came from infrastructure attacking many accounts."""
        return self.attack in BULK_ATTACKS

    def is_account_takeover(self, login_successful: bool) -> bool:
        """RBA's label: an attacker got in."""
        return self.is_attack and login_successful

    def to_json(self) -> dict[str, str]:
        return {"attack": self.attack, "campaign": self.campaign, "hard_case": self.hard_case}


LEGITIMATE = Truth()
