"""One exception type for bad user input.

Every message is a single line that names the file and the column, field or line
at fault and, where it can, says how to fix it. The CLI prints it as
``c2al: error: <message>`` and exits with status 2.
"""


class C2ALInputError(ValueError):
    """Bad user input (data file, column, CohortSpec field, flag)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
