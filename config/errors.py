"""The configuration error: every problem found, each naming the key that holds it."""


class ConfigError(Exception):
    """Raised by `load_settings` with the full list of problems."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
