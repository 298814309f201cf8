"""Errors that the entry scripts report to the user as one clear message, without a traceback."""


class PipelineError(Exception):
    """A problem the user can fix; the message says what and how."""


class ConfigError(PipelineError):
    """A run-script variable with a bad value: names the variable, the value and what is expected."""

    def __init__(self, variable: str, value, expected: str):
        self.variable, self.value, self.expected = variable, value, expected
        super().__init__(f"{variable} = {str(value)!r}: {expected}")


class ConfigErrors(ConfigError):
    """Several bad variables at once, one line each."""

    def __init__(self, problems: list[str], source: str = "variable(s) of the run script"):
        self.problems = problems
        PipelineError.__init__(
            self, f"{len(problems)} {source} are invalid:\n  " + "\n  ".join(problems)
        )
        self.variable = problems[0].split(" ", 1)[0] if problems else ""
