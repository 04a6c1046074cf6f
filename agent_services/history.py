"""The part of a login history that agents may take as the user's own behaviour."""

from __future__ import annotations

from operator import and_

from aegis_domain.login_history import LoginHistory
from aegis_domain.types import Action, Reason

# A past login shows where and how the *user* logs in only if the password was right and we
# let it through (possibly after a challenge). Failed attempts are as likely to be an attacker
# guessing, and a login we blocked or sent to a human may have been the attacker: counting
# either as the user's baseline would teach the agents to find the attacker familiar.
TRUSTED_ACTIONS = frozenset({Action.ALLOW, Action.CHALLENGE})
# As LoginHistory holds them.
_TRUSTED_VALUES = frozenset(int(action) for action in TRUSTED_ACTIONS)

NO_HISTORY = "NO_HISTORY"


def own_logins(history: LoginHistory) -> LoginHistory:
    """The user's successful, not blocked past logins, most recent first."""
    trusted = map(_TRUSTED_VALUES.__contains__, history.action)
    return history.select(map(and_, history.login_successful, trusted))


def successful_logins(history: LoginHistory) -> LoginHistory:
    """The user's successful past logins whatever was decided, most recent first: the history
    of a trained model (detection). Its features must not depend on earlier decisions: the
    logins it is trained on were never decided by this system (offline contexts record each
    as ALLOW), and a model that learned from decisions would learn its own past. The
    hand-made baselines (behavior, geo) learn nothing, so they use own_logins."""
    return history.select(history.login_successful)


def no_history_reason() -> Reason:
    """Informational (weight 0): a first login is judged without a baseline, not as risky."""
    return Reason(
        code=NO_HISTORY,
        message="no earlier successful login for this user: no baseline to compare with",
        weight=0.0,
    )
