"""A Python test plugin driven by its `attack` parameter: each attack tries
one thing the sandbox or the policy must stop, and reports what it saw."""

import easel


def run(cx: easel.Context) -> None:
    attack = cx.param("attack") or ""
    if attack == "spin":
        n = 0
        while True:
            n += 1
    if attack == "bomb":
        hoard = []
        while True:
            hoard.append(bytearray(4 << 20))
    if attack == "environ":
        import os

        easel.log.info(f"environ={dict(os.environ)!r}")
        return
    if attack == "passwd":
        with open("/etc/passwd") as f:
            easel.log.info(f"passwd={f.read()!r}")
        return
    if attack == "socket":
        import socket

        s = socket.create_connection(("127.0.0.1", int(cx.require("port"))))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        easel.log.info(f"socket={s.recv(100)!r}")
        return
    if attack == "get":
        path = cx.require("path")
        try:
            body = easel.get(path)
        except easel.Denied as e:
            easel.log.info(f"denied rule={e.rule} reason={e.reason}")
            return
        easel.log.info(f"got {str(body)[:80]}")
        return
    if attack == "put":
        written = easel.put(cx.require("path"), {"course": {"name": "renamed by python"}})
        if isinstance(written, easel.Planned):
            easel.log.info(f"planned step={written.step}")
        else:
            easel.log.info(f"sent {written.value!r}"[:200])
        return
    if attack == "bug":
        return {}["missing"]
    raise easel.ParamError(f"unknown attack {attack!r}")
