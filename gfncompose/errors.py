"""The one exception type for bad user input."""


class UserError(Exception):
    """Bad input from a user (file, config key, value): the message names what and where.

    The CLI prints it as one line and exits with status 2; no traceback.
    """
