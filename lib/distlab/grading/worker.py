"""The learner's side of the sandbox: runs submitted code and answers calls, nothing more.

Started by :mod:`distlab.grading.sandbox` as ``python -m distlab.grading.worker RESULT_FD``,
as an unprivileged user, in an empty working folder, with memory, CPU, file-size and
process limits and (where possible) no network. It reads requests as JSON lines on stdin and
writes answers as JSON lines on the file descriptor it was given:

- ``{"load": code, "extra": [cells], "names": [...]}``: run the submission's code (other
  graded cells best effort); answer which names exist;
- ``{"call": name, "args": [...], "with": "reference seams to pass"}``: call a function;
- ``{"new": name, "args": [...]}`` then ``{"step": handle, "event": ...}``: host an object
  (a learner's sans-I/O process) and step it.

Answers are plain data only (:mod:`distlab.grading.codecs`). This process decides nothing:
the grader checks every answer, and computes and writes the scores itself, after this
process is gone. Anything the learner's code prints goes to a capped file the grader only
quotes in messages.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from distlab.grading.codecs import decode, encode


def _reference(name: str):
    """Reference seams a learner's function may be given (so parts do not cascade)."""
    if name == "vote_order":
        from distlab.zab.election import vote_order

        return vote_order
    if name == "has_quorum":
        from distlab.zab.quorum import has_quorum

        return has_quorum
    raise KeyError(name)


def _effects_to_data(effects: Any) -> Any:
    from distlab.sansio import Effects

    if effects is None:
        return None
    if type(effects) is not Effects:
        raise TypeError(f"step() must return Effects or None, got {type(effects).__name__}")
    return {name: getattr(effects, name) for name in Effects._FIELDS}


def serve(out) -> None:
    namespace: dict[str, Any] = {"__name__": "submission"}
    objects: dict[int, Any] = {}

    def answer(payload: dict) -> None:
        out.write(json.dumps(payload) + "\n")
        out.flush()

    for line in sys.stdin:
        try:
            request = json.loads(line)
        except json.JSONDecodeError:
            return  # the grader never sends bad JSON: stop
        try:
            if "load" in request:
                # The other graded cells first, each on its own and best effort (a broken cell
                # of another part must not sink this one), then the setup and this part's cell.
                for chunk in request.get("extra", []):
                    try:
                        exec(compile(chunk, "<submission: another part>", "exec"), namespace)
                    except Exception:  # noqa: BLE001 - that part is graded on its own
                        pass
                exec(compile(request["load"], "<submission>", "exec"), namespace)
                answer({"ok": {name: callable(namespace.get(name)) for name in request["names"]}})
            elif "call" in request:
                fn = namespace.get(request["call"])
                args = decode(request.get("args", []))
                kwargs = {name: _reference(name) for name in request.get("with", [])}
                answer({"ok": encode(fn(*args, **kwargs))})
            elif "new" in request:
                cls = namespace.get(request["new"])
                handle = len(objects) + 1
                objects[handle] = cls(*decode(request.get("args", [])))
                answer({"ok": handle})
            elif "step" in request:
                obj = objects[request["step"]]
                event = decode(request["event"])
                answer({"ok": encode(_effects_to_data(obj.step(event)))})
            else:
                answer({"error": "unknown request", "kind": "ProtocolError"})
        except BaseException as error:  # noqa: BLE001 - report everything, even SystemExit
            tb = traceback.format_exception(type(error), error, error.__traceback__)
            answer({"error": f"{type(error).__name__}: {error}", "kind": type(error).__name__,
                    "traceback": "".join(tb[-6:])[-4000:]})
            if isinstance(error, (KeyboardInterrupt, SystemExit)) and request.get("fatal_exit", False):
                return


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
