"""The security suite: one test per attack in RELIABILITY.md's "Security" section.

Each test tries the attack for real (a run param, an upload, a file, a request) and asserts that it is
refused with a reason, and that nothing it aimed at was reached or changed.
"""

import airflow_home  # noqa: F401  (before anything imports airflow)
from published_site import published_site, violations_script  # noqa: E402, F401  (findings 7 and 8's site)
