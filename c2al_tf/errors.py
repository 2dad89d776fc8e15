"""One exception type for bad user input.

Every message is a single line that names the file and the column, field or line
at fault and, where it can, says how to fix it. The CLI prints it as
``c2al: error: <message>`` and exits with status 2.
"""


class C2ALInputError(ValueError):
    """Bad user input (data file, column, CohortSpec field, argument).

    ``arguments``: the names of the library arguments the message names, as written
    in it (``min_support``); the ``c2al`` command shows each as its flag
    (``--min-support``, ``c2al_tf.commands.common.for_the_command_line``)."""

    def __init__(self, message: str, arguments=()):
        super().__init__(" ".join(str(message).split()))
        self.arguments = tuple(arguments)
