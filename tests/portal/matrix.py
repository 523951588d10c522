"""Permission matrix entries for the portal's routes (HTML, session-based).

Keys are "METHOD rule" exactly as in the app's URL map; `tests/api/test_permissions.py`
counts a route as covered when it is here, and the portal's own tests check each entry.
"""

from __future__ import annotations

PORTAL_MATRIX: dict[str, dict[str, int]] = {}
