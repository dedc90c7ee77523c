"""Media worker for video-pipeline: every processing stage behind one CLI."""

from __future__ import annotations

__version__ = "0.1.0"
