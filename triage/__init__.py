"""triage: find which seized device holds known material, fast and defensibly."""

from __future__ import annotations

__version__ = "0.1.0"
TOOL_NAME = "triage"
