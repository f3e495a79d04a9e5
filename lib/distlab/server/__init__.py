"""ZooKeeper's client wire protocol in front of distlab's data tree: real clients talk to it.

Modules, one concept each; the cores are sans-I/O (bytes in, bytes out), like h11:

- ``jute``        -- the binary record format and every client-protocol record
- ``connection``  -- one connection's framing, handshake and size limit, a state machine
- ``standalone``  -- ``StandaloneServer``: requests -> prepare -> txn -> tree -> replies
- ``fourletter``  -- ``ruok``, ``srvr``, ``stat``, ``mntr``, ``envi`` answers
- ``storage``     -- snapshot + txn log on disk (the only module that touches files)
- ``tcp``         -- the asyncio driver; ``serve`` -- the ``distlab serve`` command
"""
