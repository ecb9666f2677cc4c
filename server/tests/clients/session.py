"""The client-compatibility session for redis-py (driven by server/tests/clients.rs).

Environment: DYNAMO_PORTS (the open cluster's RESP ports; node 1 is restarted
mid-session), DYNAMO_AUTH_PORT, DYNAMO_USER, DYNAMO_PASSWORD (a node with users).
Prints `version redis-py X`, then `check NAME ok` per step; prints `restart` and
waits for `restarted` on stdin while the driver restarts node 1. Any failure raises.
"""
import os
import sys
import time

import redis

PORTS = [int(p) for p in os.environ["DYNAMO_PORTS"].split(",")]
AUTH_PORT = int(os.environ["DYNAMO_AUTH_PORT"])
USER, PASSWORD = os.environ["DYNAMO_USER"], os.environ["DYNAMO_PASSWORD"]


def check(name):
    print(f"check {name} ok", flush=True)


def expect_error(call, text):
    try:
        call()
    except redis.RedisError as error:
        assert any(t.lower() in str(error).lower() for t in text.split("|")), f"{text!r} not in {error!r}"
        return
    raise AssertionError(f"expected an error with {text!r}")


def main():
    print(f"version redis-py {redis.__version__}", flush=True)
    # Default options: redis-py sends CLIENT SETINFO on connect (HELLO with protocol=3).
    one = redis.Redis(host="127.0.0.1", port=PORTS[0])
    two = redis.Redis(host="127.0.0.1", port=PORTS[1])
    three = redis.Redis(host="127.0.0.1", port=PORTS[2])
    assert one.ping() is True
    check("connect-default")

    assert one.set("py:k", "v") is True
    assert two.get("py:k") == b"v"
    assert one.get("py:missing") is None
    check("set-get")

    # pipeline(transaction=False): dynamo has no MULTI/EXEC (docs/clients.md).
    pipe = one.pipeline(transaction=False)
    for i in range(50):
        pipe.set(f"py:p{i}", str(i))
        pipe.get(f"py:p{i}")
    replies = pipe.execute()
    assert replies == [x for i in range(50) for x in (True, str(i).encode())], replies
    expect_error(lambda: one.pipeline().set("py:t", "1").execute(), "no transactions|EXECABORT")
    assert one.get("py:t") is None, "nothing of a transaction runs"
    check("pipeline")

    assert one.mset({"py:a": "1", "py:b": "22"}) is True
    assert two.mget(["py:a", "py:b", "py:none"]) == [b"1", b"22", None]
    assert three.exists("py:a", "py:b", "py:none") == 2
    assert one.append("py:b", "33") == 4 and two.strlen("py:b") == 4
    assert one.getdel("py:b") == b"2233" and one.type("py:b") == b"none"
    assert one.delete("py:a", "py:b", "py:none") == 1
    check("mset-mget")

    # Concurrent blind writes through two nodes become siblings; GET shows one of
    # them, the same on every node; a write with VGET's context resolves them.
    one.execute_command("VSET", "py:s", "", "left")
    two.execute_command("VSET", "py:s", "", "right")
    context, values = three.execute_command("VGET", "py:s")
    assert sorted(values) == [b"left", b"right"], values
    shown = one.get("py:s")
    assert shown in (b"left", b"right") and two.get("py:s") == shown
    one.execute_command("VSET", "py:s", context, "merged")
    assert three.get("py:s") == b"merged"
    assert len(two.execute_command("VGET", "py:s")[1]) == 1
    check("siblings")

    resp3 = redis.Redis(host="127.0.0.1", port=PORTS[2], protocol=3)
    assert resp3.set("py:r3", "x") is True and resp3.get("py:r3") == b"x"
    assert resp3.get("py:missing") is None
    assert resp3.mget(["py:r3", "py:missing"]) == [b"x", None]
    check("resp3")

    anonymous = redis.Redis(host="127.0.0.1", port=AUTH_PORT)
    expect_error(lambda: anonymous.get("py:k"), "authenticat")
    wrong = redis.Redis(host="127.0.0.1", port=AUTH_PORT, username=USER, password="wrong")
    expect_error(wrong.ping, "invalid username-password pair")
    secured = redis.Redis(host="127.0.0.1", port=AUTH_PORT, username=USER, password=PASSWORD)
    assert secured.set("py:auth", "yes") is True and secured.get("py:auth") == b"yes"
    check("auth")

    assert one.set("py:before", "kept") is True
    print("restart", flush=True)
    assert sys.stdin.readline().strip() == "restarted"
    deadline = time.monotonic() + 20
    while True:  # bounded by the deadline
        try:
            assert one.get("py:before") == b"kept"
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    check("reconnect")
    print("done", flush=True)


main()
