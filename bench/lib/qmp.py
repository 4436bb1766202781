#!/usr/bin/env python3
"""A minimal QMP client: runs commands given as JSON lines on stdin against a QMP socket.

usage: qmp.py SOCKET < commands.jsonl
A line {"wait-event": "BLOCK_JOB_COMPLETED"} waits for that event and prints the seconds since
the previous command was sent. Errors from QEMU exit non-zero with the error on stderr.
"""
import json
import socket
import sys
import time

sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(sys.argv[1])
f = sock.makefile("rw")


def read():
    line = f.readline()
    if not line:
        sys.exit("qmp: connection closed")
    return json.loads(line)


read()  # greeting
sent_at = time.monotonic()
for raw in [json.dumps({"execute": "qmp_capabilities"})] + sys.stdin.read().splitlines():
    if not raw.strip():
        continue
    msg = json.loads(raw)
    if "wait-event" in msg:
        while True:
            m = read()
            if m.get("event") == msg["wait-event"]:
                if m["data"].get("error"):
                    sys.exit("qmp: job failed: " + m["data"]["error"])
                print("%.4f" % (time.monotonic() - sent_at))
                break
        continue
    f.write(raw + "\n")
    f.flush()
    sent_at = time.monotonic()
    while True:
        m = read()
        if "return" in m:
            break
        if "error" in m:
            sys.exit("qmp: %s failed: %s" % (msg.get("execute"), m["error"]["desc"]))
