"""The trivial Python plugin: does nothing, for the instantiate-and-run
benchmark."""

import easel


def run(cx: easel.Context) -> None:
    pass
