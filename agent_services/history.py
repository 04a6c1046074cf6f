"""The part of a login history that agents may take as the user's own behaviour."""

from __future__ import annotations

from aegis_domain.types import Action, LoginContext, LoginEvent, Reason

# A past login shows where and how the *user* logs in only if the password was right and we
# let it through (possibly after a challenge). Failed attempts are as likely to be an attacker
# guessing, and a login we blocked or sent to a human may have been the attacker: counting
# either as the user's baseline would teach the agents to find the attacker familiar.
TRUSTED_ACTIONS = frozenset({Action.ALLOW, Action.CHALLENGE})

NO_HISTORY = "NO_HISTORY"


def own_logins(context: LoginContext) -> list[LoginEvent]:
    """The user's successful, not blocked past logins, most recent first."""
    return [
        past.event
        for past in context.history
        if past.event.login_successful and past.action in TRUSTED_ACTIONS
    ]


def successful_logins(context: LoginContext) -> list[LoginEvent]:
    """The user's successful past logins whatever was decided, most recent first: the history
    of a trained model (detection). Its features must not depend on earlier decisions: the
    logins it is trained on were never decided by this system (offline contexts record each
    as ALLOW), and a model that learned from decisions would learn its own past. The
    hand-made baselines (behavior, geo) learn nothing, so they use own_logins."""
    return [past.event for past in context.history if past.event.login_successful]


def no_history_reason() -> Reason:
    """Informational (weight 0): a first login is judged without a baseline, not as risky."""
    return Reason(
        code=NO_HISTORY,
        message="no earlier successful login for this user: no baseline to compare with",
        weight=0.0,
    )
