"""Errors that users see: each names the field, the value and the rule it broke."""


class LlmsizerError(ValueError):
    """Base for every error caused by input a user can fix."""


class ConfigError(LlmsizerError):
    """A model, hardware or plan description breaks a rule."""


class UnknownNameError(LlmsizerError):
    """A name did not resolve; the message lists the closest matches."""


def unknown_name(kind: str, name: str, known: list[str], listing: str | None = None) -> UnknownNameError:
    """Build the error for an unresolved name, with the closest known names (never a guess) and
    where to see them all (`listing`, by default `llmsizer KINDs`)."""
    import difflib

    close = difflib.get_close_matches(name.lower(), [k.lower() for k in known], n=5, cutoff=0.5)
    lookup = {k.lower(): k for k in known}
    hint = f" Closest matches: {', '.join(lookup[c] for c in close)}." if close else ""
    listing = listing or f"`llmsizer {kind}s`"
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} See {listing}.")


def require(condition: bool, field: str, value, rule: str) -> None:
    """Raise ConfigError naming the field, its value and the rule when `condition` is false."""
    if not condition:
        raise ConfigError(f"{field} = {value!r}: {rule}")
