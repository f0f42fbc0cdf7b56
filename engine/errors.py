class BenchError(Exception):
    """A user-facing error: the message is one line that names the file, key
    or value at fault. The CLI prints it without a traceback."""
