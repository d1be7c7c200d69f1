"""The whole flow, one plain function per arrow.

    warehouse ──export──▶ events ──prepare──▶ profiles ──train──▶ models/<version>
                                                                       │
                        HTTP API ◀──reads── store ◀──────publish───────┘

The CLI, the queue tasks and the jobs API only call these functions; the stages below never
call back up. Each function takes the validated :class:`~dimrec.config.Settings` and plain
arguments, and returns a small summary that the caller formats.
"""

from __future__ import annotations
