class BenchError(Exception):
    """A user-facing error: the message is one line that names the file, key
    or value at fault. The CLI prints it without a traceback.

    ``key``, when given, is the dotted config key the error concerns
    (``optim.lr``): a form shows the message under that key's field instead
    of searching the message text for key names."""

    def __init__(self, message: str = "", key: str | None = None):
        super().__init__(message)
        self.key = key

    def __reduce__(self):  # keeps ``key`` across processes (worker executors pickle errors)
        return (type(self), (str(self), self.key))
