"""The grader's side of the sandbox: start a worker with limits, call into it, stop it.

A :class:`Sandbox` is one ``distlab.grading.worker`` process running a submission's code:

- as user ``nobody`` when the grader runs as root (so it can read neither the grader's
  secrets nor other submissions, and write nothing of ours), in a fresh empty folder;
- with limits: address space (memory bombs fail there), CPU seconds, file size, number of
  processes, open files;
- without network when ``unshare`` can give it an empty network namespace (root on Linux);
- with its stdout and stderr in files of that folder, of which only a capped tail is read;
- with every call bounded by a wall-clock timeout: an infinite loop is killed (the whole
  process group), reported, and the worker is not used again.

Calls return decoded plain data or raise :class:`LearnerError` (the learner's code raised,
exited, hung or died) — never anything the learner's process could forge into a score.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from typing import Any

from distlab.grading.codecs import decode, encode

__all__ = ["Sandbox", "LearnerError", "GraderError", "Limits"]


class LearnerError(Exception):
    """The learner's code did not answer properly: ``kind`` says how."""

    def __init__(self, kind: str, message: str, detail: str = "") -> None:
        self.kind, self.message, self.detail = kind, message, detail
        super().__init__(f"{kind}: {message}")


class Limits:
    """Resource limits for one worker (defaults fit every lab with room to spare)."""

    def __init__(self, memory_mb: int = 768, cpu_s: int = 60, call_timeout_s: float = 10.0,
                 file_mb: int = 16, processes: int = 64) -> None:
        self.memory_mb = memory_mb
        self.cpu_s = cpu_s
        self.call_timeout_s = call_timeout_s
        self.file_mb = file_mb
        self.processes = processes


def _leave_network() -> None:
    """Move this (child) process into a new, empty network namespace: no network at all.

    ``unshare(CLONE_NEWNET)`` through libc (``os.unshare`` exists only from Python 3.12). A
    kernel or container that refuses it leaves the network as it was; the worker still runs
    as ``nobody`` with its limits.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(0x40000000)  # CLONE_NEWNET
    except (OSError, AttributeError):
        pass


class GraderError(RuntimeError):
    """The grader's own environment failed (not the submission's fault)."""


def _nobody_ids() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    try:
        import pwd

        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except (KeyError, ImportError):
        return None


_RUNTIME: dict[str, object] = {}


def _runtime() -> tuple[str, str, tuple[int, int] | None]:
    """(interpreter, folder holding a copy of distlab, user ids) for workers; found once.

    Workers run as ``nobody`` when we are root. That user must be able to run the interpreter
    and read distlab: ours may live in a private home (pyenv under /root), so a copy of the
    package (standard library only is needed) goes to a world-readable folder, and the first
    interpreter ``nobody`` can run (ours, else the system's) is used. If there is none, workers
    run as we do and the report says so.
    """
    if not _RUNTIME:
        user = _nobody_ids()
        folder = tempfile.mkdtemp(prefix="distlab-grader-")
        source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        shutil.copytree(source, os.path.join(folder, "distlab"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for root, dirs, files in os.walk(folder):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        python = sys.executable
        if user is not None:
            wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
            candidates = [sys.executable, f"/usr/bin/python{wanted}", f"/usr/local/bin/python{wanted}", "/usr/bin/python3"]
            python = next((c for c in candidates if os.path.exists(c) and _runs_as(c, user, folder)), "")
            if not python:
                user, python = None, sys.executable
        _RUNTIME.update(python=python, folder=folder, user=user)
        atexit.register(shutil.rmtree, folder, True)
    return _RUNTIME["python"], _RUNTIME["folder"], _RUNTIME["user"]  # type: ignore[return-value]


def _runs_as(python: str, user: tuple[int, int], folder: str) -> bool:
    def drop() -> None:
        os.setgroups([])
        os.setgid(user[1])
        os.setuid(user[0])

    try:
        out = subprocess.run([python, "-s", "-c", "import sys, distlab.grading.codecs; print(sys.version_info >= (3, 10))"],
                             preexec_fn=drop, cwd="/", env={"PYTHONPATH": folder, "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == "True"


class Sandbox:
    """One worker process holding one submission's code."""

    def __init__(self, code: str, names: list[str], limits: Limits | None = None,
                 extra: list[str] | None = None) -> None:
        self.limits = limits or Limits()
        self.dead: str | None = None
        python, package_root, user = _runtime()
        self.folder = tempfile.mkdtemp(prefix="distlab-submission-")
        if user is not None:
            os.chown(self.folder, *user)
        os.chmod(self.folder, 0o700)
        read_fd, write_fd = os.pipe()
        self._results = os.fdopen(read_fd, "r")
        limits = self.limits

        def restrict() -> None:  # runs in the child before exec
            import resource

            os.setsid()  # its own process group: killing it kills everything it started
            mem = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
            size = limits.file_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
            if user is not None:
                _leave_network()  # needs root, so before the privileges go
                resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
                os.setgroups([])
                os.setgid(user[1])
                os.setuid(user[0])

        command = [python, "-s", "-m", "distlab.grading.worker", str(write_fd)]
        env = {"PATH": "/usr/bin:/bin", "HOME": self.folder, "PYTHONPATH": package_root,
               "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        self._out = open(os.path.join(self.folder, "stdout.txt"), "wb")
        self._err = open(os.path.join(self.folder, "stderr.txt"), "wb")
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=self._out, stderr=self._err, cwd=self.folder,
                env=env, pass_fds=(write_fd,), preexec_fn=restrict, text=True)
        finally:
            os.close(write_fd)
        ready, _, _ = select.select([self._results], [], [], 30)
        hello = self._results.readline() if ready else ""
        if not hello.startswith('{"hello"'):
            self.process.wait(timeout=10) if self.process.poll() is None and not ready else None
            tail = self.output_tail()
            self.close()
            raise GraderError(f"the grader's worker did not start ({command[0]}): {tail or 'no output'}")
        self.loaded = self._request({"load": code, "names": names, "extra": list(extra or [])}, load=True)

    # ------------------------------------------------------------------ calls ------------
    def call(self, name: str, *args: Any, with_refs: tuple[str, ...] = ()) -> Any:
        return decode(self._request({"call": name, "args": encode(list(args)), "with": list(with_refs)}))

    def new(self, name: str, *args: Any) -> int:
        return self._request({"new": name, "args": encode(list(args))})

    def step(self, handle: int, event: Any) -> Any:
        return decode(self._request({"step": handle, "event": encode(event)}))

    def _request(self, request: dict, load: bool = False) -> Any:
        if self.dead:
            raise LearnerError("dead", self.dead)
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            self._die("the process had already exited (sys.exit or os._exit?)")
        ready, _, _ = select.select([self._results], [], [], self.limits.call_timeout_s)
        if not ready:
            self._die(f"no answer within {self.limits.call_timeout_s:g} s (an infinite loop?)", kind="timeout")
        line = self._results.readline()
        if not line:
            status = self.process.wait(timeout=5)
            why = {-signal.SIGKILL: "killed (memory or CPU limit?)", -signal.SIGXCPU: "CPU time limit",
                   -signal.SIGSEGV: "crashed"}.get(status, f"exited with status {status} (sys.exit or os._exit?)")
            self._die(f"the process {why}")
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            self._die("answered with something that is not JSON")
        if not isinstance(answer, dict):
            self._die("answered with something that is not an answer")
        if "error" in answer:
            kind = str(answer.get("kind", "Exception"))
            raise LearnerError(kind, str(answer["error"])[:500], str(answer.get("traceback", ""))[-2000:])
        if "ok" not in answer:
            self._die("answered without a result")
        return answer["ok"]

    def _die(self, why: str, kind: str = "died") -> None:
        self.dead = why
        tail = self.output_tail()
        self.close()
        raise LearnerError(kind, why, tail)

    def output_tail(self, limit: int = 1500) -> str:
        """The last bytes the learner's code printed (for messages only; never parsed)."""
        chunks = []
        for name in ("stdout.txt", "stderr.txt"):
            try:
                with open(os.path.join(self.folder, name), "rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    size = fh.tell()
                    fh.seek(max(0, size - limit))
                    chunks.append(fh.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(c for c in chunks if c.strip())[-limit:]

    def close(self) -> None:
        """Stop the worker and everything it started, and remove its folder."""
        if getattr(self, "process", None) is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for handle in (getattr(self, "_results", None), getattr(self, "_out", None), getattr(self, "_err", None)):
            if handle is not None:
                try:
                    handle.close()
                except OSError:
                    pass
        if getattr(self, "process", None) is not None and self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def available_user() -> str:
    """Who submissions run as here (for the report)."""
    python, _, user = _runtime()
    if user is not None:
        return f"nobody, with {python}"
    if os.geteuid() == 0:
        return "root: no interpreter the unprivileged user can run was found (no privilege drop)"
    return f"uid {os.geteuid()} (not root: no privilege drop)"


__all__.append("available_user")
