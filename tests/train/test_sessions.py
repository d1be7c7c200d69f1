"""Cutting events into sessions: by user, by day, and at pauses over 30 minutes."""

from __future__ import annotations

import numpy as np

from dimrec.train.sessions import SESSION_GAP_SECONDS, cut_sessions


def test_sessions_break_at_users_days_and_long_pauses() -> None:
    minute = 60
    # Given out of order: user, day, seconds into the day.
    events = [
        (1, 0, 10 * minute),  # 0
        (0, 0, 0),  # 1
        (0, 0, 30 * minute),  # 2: exactly 30 minutes later, the same session
        (0, 0, 61 * minute),  # 3: 31 minutes later, a new session
        (0, 1, 62 * minute),  # 4: the next day, a new session
        (1, 0, 10 * minute),  # 5: the same time as event 0: kept in the order given
    ]
    user = np.array([e[0] for e in events])
    day = np.array([e[1] for e in events])
    ts = day * 86_400 + np.array([e[2] for e in events])
    sessions = cut_sessions(user, day, ts)
    assert sessions.order.tolist() == [1, 2, 3, 4, 0, 5]
    assert sessions.starts.tolist() == [0, 2, 3, 4]
    assert sessions.sizes.tolist() == [2, 1, 1, 2]
    assert sessions.session_of().tolist() == [0, 0, 1, 2, 3, 3]
    assert len(cut_sessions(user, day, ts, gap_seconds=SESSION_GAP_SECONDS * 10)) == 3
    assert len(cut_sessions(user[:0], day[:0], ts[:0])) == 0
