"""A lock holder in its own process, for the SIGSTOP test (python holder_process.py HOSTS PATH).

Prints ``HELD <token>`` once it holds the lock, ``LOST <token>`` when kazoo reports the
session lost, and on the input line ``release`` tries to release and prints the outcome.
Its ZooKeeper session timeout is 1 s (the standalone server's minimum with tickTime 500).
"""

import sys
import time

from kazoo.client import KazooClient

from distlab.locks import ZkLock


def main() -> None:
    hosts, path = sys.argv[1], sys.argv[2]
    client = KazooClient(hosts=hosts, timeout=1.0)
    client.start(timeout=15)
    lock = ZkLock(client, path, "paused-holder", clock=time,
                  on_lost=lambda lock: print("LOST", lock.token, flush=True))
    lock.acquire(timeout=15)
    print("HELD", lock.token, flush=True)
    for line in sys.stdin:
        if line.strip() == "release":
            try:
                lock.release()
                print("released", flush=True)
            except Exception as error:  # the outcome is the answer
                print(type(error).__name__, error, flush=True)
    client.stop()


if __name__ == "__main__":
    main()
