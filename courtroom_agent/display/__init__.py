"""The courtroom's display screens, served by the agent itself (笔录同步输出展示, 证据同步展示质证).

See :mod:`courtroom_agent.display.server` for who may connect and what they see.
"""

from .model import (
    DEFAULT_VIEWS,
    DisplayError,
    DisplayLimits,
    DisplayReport,
    Exhibit,
    ExhibitError,
    ExhibitKind,
    ExhibitShown,
    PageError,
    ViewSpec,
)
from .server import DisplayServer, EvidenceFolder
from .state import PARTIAL_KIND

__all__ = [
    "DEFAULT_VIEWS",
    "PARTIAL_KIND",
    "DisplayError",
    "DisplayLimits",
    "DisplayReport",
    "DisplayServer",
    "EvidenceFolder",
    "Exhibit",
    "ExhibitError",
    "ExhibitKind",
    "ExhibitShown",
    "PageError",
    "ViewSpec",
]
