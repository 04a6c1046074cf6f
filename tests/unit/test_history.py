"""The two readings of "the user's own logins": the baselines trust only what was let
through; the trained model reads every successful login, whatever was decided."""

from __future__ import annotations

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import Action, LoginEvent, PastLogin
from agent_services.history import own_logins, successful_logins


def past(event_id: str, action: Action, successful: bool = True) -> PastLogin:
    event = LoginEvent(event_id=event_id, timestamp=100.0, user_id="u", ip="192.0.2.1",
                       login_successful=successful)
    return PastLogin(event=event, action=action, risk=0.5)


HISTORY = LoginHistory.from_logins([
    past("allowed", Action.ALLOW),
    past("blocked", Action.BLOCK_TEMPORARY),
    past("challenged", Action.CHALLENGE),
    past("failed", Action.ALLOW, successful=False),
    past("escalated", Action.ESCALATE),
])


def test_the_baselines_trust_only_logins_let_through() -> None:
    assert list(own_logins(HISTORY).event_id) == ["allowed", "challenged"]


def test_the_trained_model_reads_no_decision() -> None:
    assert list(successful_logins(HISTORY).event_id) == [
        "allowed", "blocked", "challenged", "escalated"
    ]
