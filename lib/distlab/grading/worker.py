"""The learner's side of the sandbox: runs submitted code and answers calls, nothing more.

Started by :mod:`distlab.grading.sandbox` inside the sandbox, against the lab's stripped copy
of distlab (:mod:`distlab.grading.withheld`). It reads requests as JSON lines on stdin and
writes answers as JSON lines on the file descriptor it was given:

- ``{"setup": code, "extra": [[code, file], ...], "load": code, "file": name, "names": [...],
  "bind": [...]}``: run the setup cells, the other graded cells (best effort), then this part's
  cell compiled as ``file``; bind each name in ``bind`` to a seam calling back to the grader's
  reference; answer, for each graded name, whether it is defined and where it came from;
- ``{"call": name, "args": [...], "with": [seams]}``: call a function; each seam named in
  ``with`` is passed as a keyword argument that calls back to the grader (``{"callback": ...}``
  out, ``{"result": ...}`` or ``{"raise": ...}`` in), so reference code never runs here;
- ``{"new": name, "args": [...]}`` then ``{"step": handle, "event": ...}``: host an object
  (a learner's sans-I/O process) and step it; ``{"invoke": handle, "method": m, "args": [...]}``
  calls any other public method of it (a learner's data tree, say);
- ``{"call": ..., "generator": true}``: the function is a generator function (a lock recipe
  that yields operations); the generator is hosted and ``{"resume": handle, "send": value}``
  or ``{"resume": handle, "throw": exception}`` drive it, answering ``{"yielded": op}`` or
  ``{"returned": value}``; an exception the generator raises comes back as the error, with the
  exception itself as data when it is one that may cross (``codecs.encode_exception``).

Answers are plain data only (:mod:`distlab.grading.codecs`). This process decides nothing:
learner code runs in it and could rewrite any of it, so the grader checks every answer and
computes the scores itself, after this process is gone.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any, Callable

from distlab.grading.codecs import decode, decode_exception, encode, encode_exception

SUBMISSION = "submission"  # the module name the notebook's code runs as


def _effects_to_data(effects: Any) -> Any:
    from distlab.sansio import Effects

    if effects is None:
        return None
    if type(effects) is not Effects:
        raise TypeError(f"step() must return Effects or None, got {type(effects).__name__}")
    return {name: getattr(effects, name) for name in Effects._FIELDS}


def origin(value: Any, filename: str) -> str:
    """Where a graded name's value was defined: ``"cell"`` when in its graded cell."""
    if value is None:
        return "missing"
    if isinstance(value, type):
        module = getattr(value, "__module__", "?")
        if module != SUBMISSION:
            return f"imported from {module}"
        # dataclass-made dunders are compiled as "<string>" by the dataclasses module itself
        own = [f for name, f in vars(value).items() if hasattr(f, "__code__")
               and not (name.startswith("__") and f.__code__.co_filename == "<string>")]
        if any(f.__code__.co_filename != filename for f in own):
            return "its methods were not written in its graded cell"
        return "cell"
    code = getattr(value, "__code__", None)
    module = getattr(value, "__module__", None)
    if code is None:
        if isinstance(module, str) and module != SUBMISSION:
            return f"imported from {module}"
        return f"not a function written with def (it is a {type(value).__name__})"
    if code.co_filename == filename:
        return "cell"
    if isinstance(module, str) and module != SUBMISSION:
        return f"imported from {module}"
    return f"made by code compiled as {code.co_filename!r}, not written in its graded cell"


class _Channel:
    """The answer pipe, and the seams that call back to the grader over it."""

    def __init__(self, out, requests) -> None:
        self.out, self.requests = out, requests

    def answer(self, payload: dict) -> None:
        self.out.write(json.dumps(payload) + "\n")
        self.out.flush()

    def seam(self, name: str) -> Callable[..., Any]:
        def reference(*args: Any) -> Any:
            self.answer({"callback": name, "args": encode(list(args))})
            line = self.requests.readline()
            reply = json.loads(line) if line else {"raise": "the grader went away"}
            if "raise" in reply:
                if reply.get("exception") is not None:
                    raise decode_exception(reply["exception"])
                raise RuntimeError(f"reference {name}: {reply['raise']}")
            return decode(reply.get("result"))

        reference.__name__ = name
        return reference


def serve(out) -> None:
    namespace: dict[str, Any] = {"__name__": SUBMISSION}
    objects: dict[int, Any] = {}
    channel = _Channel(out, sys.stdin)

    while True:
        line = sys.stdin.readline()
        if not line:
            return
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            return  # the grader never sends bad JSON: stop
        try:
            if "load" in request:
                if request.get("setup"):
                    exec(compile(request["setup"], "<setup cells>", "exec"), namespace)
                # The other graded cells, each on its own and best effort (a broken cell of
                # another part must not sink this one), then this part's cell, last.
                for chunk, filename in request.get("extra", []):
                    try:
                        exec(compile(chunk, filename, "exec"), namespace)
                    except Exception:  # noqa: BLE001 - that part is graded on its own
                        pass
                filename = request.get("file", "<submission>")
                exec(compile(request["load"], filename, "exec"), namespace)
                for name in request.get("bind", []):  # earlier parts: graded with the reference
                    namespace[name] = channel.seam(name)
                channel.answer({"ok": {name: {"callable": callable(namespace.get(name)),
                                              "origin": origin(namespace.get(name), filename)}
                                       for name in request["names"]}})
            elif "call" in request:
                fn = namespace.get(request["call"])
                args = decode(request.get("args", []))
                kwargs = {name: channel.seam(name) for name in request.get("with", [])}
                kwargs.update({name: namespace[name] for name in request.get("own", [])})  # the capstone
                value = fn(*args, **kwargs)
                if request.get("generator"):
                    if not (hasattr(value, "send") and hasattr(value, "throw")):
                        raise TypeError(f"{request['call']}() must be a generator (a function that yields "
                                        f"operations), but it returned {type(value).__name__}")
                    handle = len(objects) + 1
                    objects[handle] = value
                    channel.answer({"ok": handle})
                else:
                    channel.answer({"ok": encode(value)})
            elif "resume" in request:
                generator = objects[request["resume"]]
                try:
                    if "throw" in request:
                        op = generator.throw(decode_exception(request["throw"]))
                    else:
                        op = generator.send(decode(request.get("send")))
                except StopIteration as stop:
                    channel.answer({"ok": {"returned": encode(stop.value)}})
                else:
                    channel.answer({"ok": {"yielded": encode(op)}})
            elif "invoke" in request:
                obj = objects[request["invoke"]]
                method = str(request.get("method", ""))
                if method.startswith("_"):
                    raise AttributeError(f"the grader calls only public methods, not {method!r}")
                channel.answer({"ok": encode(getattr(obj, method)(*decode(request.get("args", []))))})
            elif "new" in request:
                cls = namespace.get(request["new"])
                handle = len(objects) + 1
                objects[handle] = cls(*decode(request.get("args", [])))
                channel.answer({"ok": handle})
            elif "step" in request:
                obj = objects[request["step"]]
                event = decode(request["event"])
                channel.answer({"ok": encode(_effects_to_data(obj.step(event)))})
            else:
                channel.answer({"error": "unknown request", "kind": "ProtocolError"})
        except BaseException as error:  # noqa: BLE001 - report everything, even SystemExit
            tb = traceback.format_exception(type(error), error, error.__traceback__)
            try:
                crossing = encode_exception(error)
            except Exception:  # noqa: BLE001 - an exception that cannot cross is only reported
                crossing = None
            channel.answer({"error": f"{type(error).__name__}: {error}", "kind": type(error).__name__,
                            "traceback": "".join(tb[-6:])[-4000:], "exception": crossing})


def main() -> None:
    fd = int(sys.argv[1])
    with os.fdopen(fd, "w", buffering=1) as out:
        # Said before any submitted code runs: the grader tells a worker that never started
        # (its own problem) from a submission that broke it.
        out.write(json.dumps({"hello": sys.version_info[:2]}) + "\n")
        out.flush()
        serve(out)


if __name__ == "__main__":
    main()
