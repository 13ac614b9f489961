"""Kinds of fix, recognised from how a resolution or mitigation is written.

The kinds are the usual mitigation types of incident reviews. A fix text gets the
kind whose phrases it contains first; text that matches none has no kind.
"""

from __future__ import annotations

import re

FIX_TYPES: dict[str, tuple[str, ...]] = {
    "rollback": (
        r"roll(?:ed|ing)?[ -]?back",
        r"revert(?:ed|ing)?",
        r"back out",
        r"backed out",
        r"previous (?:version|release|build|configuration)",
        r"undid",
        r"undo",
    ),
    "failover or traffic redirection": (
        r"fail(?:ed|ing)?[ -]?over",
        r"redirect(?:ed|ing)?",
        r"re-?rout(?:ed|ing|e)",
        r"drain(?:ed|ing)?",
        r"shift(?:ed|ing)? traffic",
        r"traffic (?:was )?moved",
        r"promot(?:ed|e|ing) (?:a |the )?(?:replica|standby|secondary)",
        r"switchover",
        r"dns (?:change|update)",
        r"took .* out of rotation",
        r"depool(?:ed)?",
    ),
    "restart": (
        r"restart(?:ed|ing|s)?",
        r"reboot(?:ed|ing)?",
        r"recycl(?:ed|ing)",
        r"bounc(?:ed|ing)",
        r"re-?deploy(?:ed|ing)? the same",
        r"kill(?:ed)? the (?:pod|process)",
        r"delet(?:ed|ing) the (?:pod|pods)",
    ),
    # Runbooks write fixes in the imperative ("grow the volume"), so those forms
    # count beside the past tense of incident reviews.
    "capacity": (
        r"scal(?:e|ed|ing) (?:up|out)",
        r"add(?:ed|ing)? (?:more )?(?:capacity|nodes|instances|"
        r"replicas|servers|resources)",
        r"increas(?:e|ed|ing) (?:the )?(?:capacity|memory|"
        r"limit|quota|disk|volume|size|pool)",
        r"grew",
        r"grow(?:ing)? (?:the )?(?:volume|disk|pool|cluster|node group|quota)",
        r"resiz(?:e|ed|ing)",
        r"expand(?:ed|ing)?\b",
        r"provision(?:ed|ing)",
    ),
    "throttling": (
        r"throttl(?:ed|ing|e)",
        r"rate[ -]limit(?:ed|ing)?",
        r"load[ -]shed",
        r"shed load",
        r"block(?:ed|ing) (?:the )?(?:traffic|requests|client)",
        r"backpressure",
    ),
    "hotfix": (
        r"hot[ -]?fix",
        r"patch(?:ed|ing)?",
        r"deploy(?:ed|ing)? a fix",
        r"code fix",
        r"fix(?:ed)? (?:the )?bug",
        r"new (?:version|release|build) with",
    ),
    "hardware or power restore": (
        r"power (?:was )?restor",
        r"replac(?:ed|ing) (?:the )?(?:faulty |failed )?(?:hardware|"
        r"disk|drive|server|device|card|switch|router|line card)",
        r"hardware",
        r"generator",
        r"utility power",
        r"cooling",
        r"fiber",
    ),
    "configuration change": (
        r"config(?:uration)? (?:change|update|fix)",
        r"(?:chang|updat|correct|modifi)(?:ed|ing) (?:the )?(?:[\w-]+ ){0,3}"
        r"(?:config|configuration|setting|parameter|flag|policy|policies|rule|"
        r"certificate|record)s?\b",
        r"reconfigur",
        r"set .* to",
        r"(?:enabled|disabled) (?:the )?",
        r"feature flag",
        r"renew(?:ed|ing)",
        r"rotat(?:ed|ing)",
    ),
}

_PATTERNS = [
    (kind, re.compile("|".join(f"(?:{p})" for p in phrases), re.IGNORECASE))
    for kind, phrases in FIX_TYPES.items()
]


def classify_fix(text: str) -> str | None:
    """Return the kind of fix a text describes, or None when no phrase matches.

    When phrases of several kinds occur, the kind named earliest in the text wins,
    since write-ups usually lead with what stopped the impact.
    """
    best: tuple[int, str] | None = None
    for kind, pattern in _PATTERNS:
        found = pattern.search(text)
        if found and (best is None or found.start() < best[0]):
            best = (found.start(), kind)
    return best[1] if best else None
