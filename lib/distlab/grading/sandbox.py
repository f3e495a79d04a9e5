"""The grader's side of the sandbox: start a worker with limits, call into it, stop it.

A :class:`Sandbox` is one ``distlab.grading.worker`` process running a submission's code.
Learner code is hostile until proven otherwise, so the worker runs:

- under **bubblewrap** (``bwrap``, Debian's ``bubblewrap``) where it is installed: new user,
  PID, network, IPC, UTS and mount namespaces; the root filesystem is empty but for read-only
  binds of ``/usr`` (the interpreter and its standard library; every ``site-packages`` folder
  masked) and of *the lab's stripped library* (:mod:`distlab.grading.withheld`); a private,
  size-limited ``/tmp`` and working folder; no repository, no ``solutions/``, no class folder,
  no other submission; ``--die-with-parent``. When the part ends, the PID namespace dies with
  its init, and with it **every** process the submission started, ``setsid`` or not;
- as a **distinct unprivileged uid per concurrent job** (a lease on a numbered slot, see
  :class:`UidSlot`) when the grader is root, so one submission's fork bomb or lingering
  process cannot eat another's process limit; before a uid is used, and after, no process of
  that uid may remain (checked in ``/proc``, and killed — never assumed);
- with limits: address space, CPU seconds, file size, processes, open files;
- with every call bounded by the per-call timeout *and* by the part's deadline, so a part's
  time budget holds while a seed runs, not only between seeds.

Without bubblewrap (another OS, a container that forbids namespaces) the worker falls back to
the older mechanism — the slot's uid, its own session, an empty network namespace — and
:func:`isolation_summary` says so for the report header.

Calls return decoded plain data or raise :class:`LearnerError` (the learner's code raised,
exited, hung or died) — never anything the learner's process could forge into a score.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from distlab.grading.codecs import CodecError, decode, decode_exception, encode, encode_exception
from distlab.grading.withheld import build_library

__all__ = ["Sandbox", "LearnerError", "GraderError", "Limits", "GradingSession", "UidSlot",
           "isolation_summary", "available_user", "processes_of", "SANDBOX_UID_BASE"]

# Sandboxed uids: far above the ranges useradd and /etc/subuid hand out, overridable.
SANDBOX_UID_BASE = int(os.environ.get("DISTLAB_SANDBOX_UID_BASE", "1900000000"))
MAX_SLOTS = 64
LIBRARY_MOUNT = "/distlab-lib"
WORK_MOUNT = "/work"
TMPFS_BYTES = 64 * 1024 * 1024
# The worker's first lines: find the stripped library first, never the working folder.
BOOT = ("import sys; sys.path[:] = [{lib!r}] + [p for p in sys.path if p]; "
        "from distlab.grading.worker import main; main()")


class LearnerError(Exception):
    """The learner's code did not answer properly: ``kind`` says how."""

    def __init__(self, kind: str, message: str, detail: str = "", exception: BaseException | None = None) -> None:
        self.kind, self.message, self.detail = kind, message, detail
        self.exception = exception  # the learner's exception, rebuilt, when it is one that may cross
        super().__init__(f"{kind}: {message}")


class GraderError(RuntimeError):
    """The grader's own environment failed (not the submission's fault)."""


class Limits:
    """Resource limits for one worker (defaults fit every lab with room to spare)."""

    def __init__(self, memory_mb: int = 768, cpu_s: int = 60, call_timeout_s: float = 10.0,
                 file_mb: int = 16, processes: int = 64, part_budget_s: float = 30.0) -> None:
        self.memory_mb = memory_mb
        self.cpu_s = cpu_s
        self.call_timeout_s = call_timeout_s
        self.file_mb = file_mb
        self.processes = processes
        self.part_budget_s = part_budget_s


# ------------------------------------------------------------------ processes by uid ------
def processes_of(uid: int) -> list[int]:
    """Pids of every process owned by ``uid`` (from ``/proc``; empty where there is none)."""
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except OSError:
                pass  # it ended meanwhile
    return pids


def kill_uid(uid: int, wait_s: float = 10.0) -> list[int]:
    """SIGKILL every process of ``uid`` until none is left; return those that would not go.

    A killed sandbox takes about a second to vanish (the kernel tears its namespaces down), so
    callers that need not wait hand this to :func:`release_later`.
    """
    deadline = time.monotonic() + wait_s
    while True:
        pids = processes_of(uid)
        if not pids:
            return []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if time.monotonic() > deadline:
            return processes_of(uid)
        time.sleep(0.01)


_RELEASING: list[threading.Thread] = []


def release_later(slot: "UidSlot") -> None:
    """Free ``slot`` once no process of its uid is left, in the background: the grader goes
    on with the next part meanwhile (on another slot). :func:`wait_for_releases` waits."""
    thread = threading.Thread(target=slot.release, name=f"release-uid-{slot.uid}", daemon=True)
    thread.start()
    _RELEASING.append(thread)


def wait_for_releases() -> None:
    """Wait until every sandbox uid this process used is free of processes again."""
    while _RELEASING:
        _RELEASING.pop().join()


class UidSlot:
    """A lease on one sandbox uid, so concurrent jobs never share one.

    Slots are lock files (``flock``) in a root-only folder; a lease lasts as long as the
    sandbox. A uid is cleared of processes before it is handed out and after it is returned.
    """

    def __init__(self, lock_dir: Path) -> None:
        self.lock_dir = lock_dir
        self.uid: int | None = None
        self._fd: int | None = None

    def acquire(self) -> int:
        self.lock_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            fd = os.open(self.lock_dir / f"slot-{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            uid = SANDBOX_UID_BASE + slot
            if kill_uid(uid):
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
                continue  # something of that uid will not die: never use it
            self._fd, self.uid = fd, uid
            return uid
        raise GraderError(f"all {MAX_SLOTS} sandbox uids are in use")

    def release(self) -> list[int]:
        """Kill what is left of the uid, then free the slot; return pids that survived."""
        survivors: list[int] = []
        if self.uid is not None:
            survivors = kill_uid(self.uid)
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd, self.uid = None, None
        return survivors


# ------------------------------------------------------------------ the runtime -----------
def _world_reachable(path: str) -> bool:
    """Can any user reach and read ``path`` (every folder above it searchable by others)?"""
    path = os.path.realpath(path)
    try:
        if not os.stat(path).st_mode & 0o004:
            return False
        parent = os.path.dirname(path)
        while True:
            if not os.stat(parent).st_mode & 0o001:
                return False
            if parent == "/":
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


def _world_searchable(folder: str) -> bool:
    """Can any user pass through ``folder`` and every folder above it?"""
    folder = os.path.realpath(folder)
    while True:
        try:
            if not os.stat(folder).st_mode & 0o001:
                return False
        except OSError:
            return False
        if folder == "/":
            return True
        folder = os.path.dirname(folder)


_PROBE = ("import json, site, sys; print(json.dumps({'ok': sys.version_info >= (3, 10), "
          "'version': '%d.%d.%d' % sys.version_info[:3], 'prefixes': sorted({sys.prefix, sys.base_prefix}), "
          "'sites': site.getsitepackages() + [site.getusersitepackages()]}))")


class Runtime:
    """How workers are started on this machine: found once per grading process."""

    def __init__(self) -> None:
        self.root = os.geteuid() == 0
        self.bwrap = shutil.which("bwrap") or ""
        self.bwrap_version = ""
        self.bwrap_problem = "" if self.bwrap else "bwrap is not installed"
        self.python, self.python_version, self.binds, self.masks = self._interpreter()
        if self.bwrap and not self._bwrap_works():
            self.bwrap = ""

    def _interpreter(self) -> tuple[str, str, list[str], list[str]]:
        wanted = f"{sys.version_info[0]}.{sys.version_info[1]}"
        candidates = [sys.executable, os.path.realpath(sys.executable), f"/usr/bin/python{wanted}",
                      f"/usr/local/bin/python{wanted}", "/usr/bin/python3"]
        for python in candidates:
            if not python or not os.path.exists(python):
                continue
            if self.root and not _world_reachable(python):
                continue  # the sandbox's uid could not run it
            try:
                out = subprocess.run([python, "-s", "-c", _PROBE], capture_output=True, text=True, timeout=30,
                                     env={"PATH": "/usr/bin:/bin"})
                info = json.loads(out.stdout)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                continue
            if not info.get("ok"):
                continue
            real = os.path.realpath(python)
            binds = [p for p in info["prefixes"] if not p.startswith("/usr/") and p != "/usr"]
            if not real.startswith("/usr/"):
                binds.append(os.path.dirname(real))
            masks = [s for s in info["sites"] if os.path.isdir(s)]
            if self.root and any(not _world_reachable(b) for b in binds):
                continue
            return python, info["version"], sorted(set(binds)), masks
        raise GraderError("no Python >= 3.10 that an unprivileged user can run was found for the sandbox "
                          "(install Debian's python3)")

    def _bwrap_works(self) -> bool:
        try:
            version = subprocess.run([self.bwrap, "--version"], capture_output=True, text=True, timeout=10)
            self.bwrap_version = version.stdout.strip()
            uid = SANDBOX_UID_BASE + MAX_SLOTS  # a probe uid no job uses
            out = subprocess.run(self.command(Path("/nonexistent"), probe=True), capture_output=True, text=True,
                                 timeout=30, preexec_fn=_drop_to(uid) if self.root else None,
                                 env={"PATH": "/usr/bin:/bin"})
            kill_uid(uid, wait_s=0) if self.root else None  # its namespace winds down on its own
            if out.returncode == 0 and out.stdout.strip() == "sandboxed":
                return True
            self.bwrap_problem = f"bwrap refused to start a sandbox: {(out.stderr or out.stdout).strip()[:300]}"
        except (OSError, subprocess.TimeoutExpired) as error:
            self.bwrap_problem = f"bwrap did not run: {error}"
        return False

    def command(self, library: Path, probe: bool = False, fd: int = 3) -> list[str]:
        """The worker's command line (under bubblewrap when there is one)."""
        lib = LIBRARY_MOUNT if self.bwrap else str(library)
        code = "print('sandboxed')" if probe else BOOT.format(lib=lib)
        python = [self.python, "-s", "-S", "-B", "-c", code] + ([] if probe else [str(fd)])
        if not self.bwrap:
            return python
        args = [self.bwrap, "--unshare-all", "--die-with-parent", "--new-session",
                "--ro-bind", "/usr", "/usr"]
        for name in ("bin", "lib", "lib64", "lib32", "libx32", "sbin"):
            link = f"/{name}"
            if os.path.islink(link):
                args += ["--symlink", os.readlink(link), link]
            elif os.path.isdir(link):
                args += ["--ro-bind", link, link]
        for folder in self.binds:
            args += ["--ro-bind", folder, folder]
        for folder in self.masks:  # no third-party package (nor an installed distlab) is visible
            args += ["--tmpfs", folder]
        if not probe:
            args += ["--ro-bind", str(library), LIBRARY_MOUNT]
        args += ["--proc", "/proc", "--dev", "/dev",
                 "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
                 "--size", str(TMPFS_BYTES), "--tmpfs", WORK_MOUNT, "--chdir", WORK_MOUNT,
                 "--hostname", "sandbox", "--"]
        return args + python

    def summary(self) -> str:
        who = (f"one unprivileged uid per job ({SANDBOX_UID_BASE}+slot)" if self.root
               else f"uid {os.geteuid()} (the grader is not root: one uid for all jobs)")
        if self.bwrap:
            return (f"learner code ran in {self.bwrap_version or 'bubblewrap'} sandboxes: no network, own PID/IPC/"
                    f"mount/user namespaces, private /tmp, only Python {self.python_version} and the lab's stripped "
                    f"library visible, {who}")
        return (f"learner code ran WITHOUT bubblewrap ({self.bwrap_problem}; Debian's `bubblewrap` gives the full sandbox): "
                f"{who}, own session, no network where the kernel allows, resource limits; it may read "
                "world-readable files")


def _drop_to(uid: int) -> Callable[[], None]:
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return drop


_RUNTIME: list[Runtime] = []


def runtime() -> Runtime:
    if not _RUNTIME:
        _RUNTIME.append(Runtime())
    return _RUNTIME[0]


def isolation_summary() -> str:
    """How submissions are isolated here, in one line (for the report header)."""
    try:
        return runtime().summary()
    except GraderError as error:
        return str(error)


available_user = isolation_summary  # the older name


# ------------------------------------------------------------------ a grading run ---------
class GradingSession:
    """One grading run's private folder: stripped libraries, worker output files, slot locks.

    Made with mode 0711 (the sandbox's uid may reach the library copies inside, nothing may
    list it) and removed, whatever happened, when the session closes — a batch leaves nothing
    in ``/tmp``. Pool processes of the same run attach to it by path.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.owner = root is None
        self.runtime = runtime()
        if root is None:
            parent = tempfile.gettempdir()
            if self.runtime.root and not _world_searchable(parent):
                parent = "/tmp"  # the sandbox's uid must be able to reach the library copy
            root = Path(tempfile.mkdtemp(prefix="distlab-grade-", dir=parent))
        self.root = Path(root)
        os.chmod(self.root, 0o711)
        base = Path("/run/distlab-grader") if self.runtime.root and os.access("/run", os.W_OK) else self.root / "slots"
        self.slot_dir = base

    def library(self, lab: int | None) -> Path:
        folder = self.root / f"lib-{'all' if lab is None else lab}"
        build_library(-1 if lab is None else lab, folder)
        return folder

    def scratch(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="sandbox-", dir=self.root))

    def close(self) -> None:
        wait_for_releases()  # no process of any sandbox of this run is left afterwards
        if self.owner:
            self.sweep()
            shutil.rmtree(self.root, ignore_errors=True)

    def sweep(self) -> None:
        """Wait until no free slot's uid has a process (pool processes of this run may have
        ended before their last sandbox finished dying); slots held by others are theirs."""
        if not self.runtime.root:
            return
        for slot in range(MAX_SLOTS):
            lock = self.slot_dir / f"slot-{slot}.lock"
            if not lock.exists():
                continue
            fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                kill_uid(SANDBOX_UID_BASE + slot)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def __enter__(self) -> "GradingSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ------------------------------------------------------------------ one worker ------------
class Sandbox:
    """One worker process holding one submission's code.

    ``setup`` runs first, then each of ``extra`` (other graded cells, best effort), then
    ``code`` (this part's cell) compiled as ``filename``; ``names`` are the graded names whose
    definitions are reported back (see :attr:`loaded`). ``references`` answers the worker's
    calls to reference seams a part passes to the learner's function (they run here, in the
    grader: the reference never enters the sandbox).
    """

    def __init__(self, code: str, names: list[str], limits: Limits | None = None,
                 extra: list[tuple[str, str]] | list[str] | None = None, *, setup: str = "",
                 filename: str = "<submission>", lab: int | None = None,
                 session: GradingSession | None = None,
                 references: Callable[[str], Callable[..., Any]] | None = None,
                 bind: tuple[str, ...] = ()) -> None:
        self.limits = limits or Limits()
        self.dead: str | None = None
        self.deadline: float | None = None
        self.references = references
        self.process: subprocess.Popen | None = None
        self._own_session = session is None
        self.session = session or GradingSession()
        self.slot: UidSlot | None = None
        self.uid: int | None = None
        self.folder = self.session.scratch()
        try:
            self._start(lab)
            extras = [(e, "<another graded cell>") if isinstance(e, str) else (e[0], e[1]) for e in (extra or [])]
            self.loaded = self._request({"setup": setup, "extra": [list(e) for e in extras], "load": code,
                                         "file": filename, "names": list(names), "bind": list(bind)}, load=True)
        except BaseException:
            self.close()
            raise

    def _start(self, lab: int | None) -> None:
        rt = self.session.runtime
        library = self.session.library(lab)
        if rt.root:
            self.slot = UidSlot(self.session.slot_dir)
            self.uid = self.slot.acquire()
            os.chown(self.folder, self.uid, self.uid)
        os.chmod(self.folder, 0o700)
        read_fd, write_fd = os.pipe()
        self._results = os.fdopen(read_fd, "r")
        limits, uid, sandboxed, root = self.limits, self.uid, bool(rt.bwrap), rt.root

        def restrict() -> None:  # runs in the child before exec
            import resource

            os.setsid()  # its own session and process group
            mem = limits.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
            size = limits.file_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
            if root and not sandboxed:
                _leave_network()  # needs root, so before the privileges go
            if uid is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
                _drop_to(uid)()

        command = rt.command(library, fd=write_fd)
        home = WORK_MOUNT if rt.bwrap else str(self.folder)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8",
               "PYTHONHASHSEED": "0", "TMPDIR": "/tmp" if rt.bwrap else str(self.folder)}
        self._out = open(self.folder / "stdout.txt", "wb")
        self._err = open(self.folder / "stderr.txt", "wb")
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=self._out, stderr=self._err,
                cwd="/" if rt.bwrap else str(self.folder), env=env, pass_fds=(write_fd,),
                preexec_fn=restrict, text=True)
        finally:
            os.close(write_fd)
        ready, _, _ = select.select([self._results], [], [], 30)
        hello = self._results.readline() if ready else ""
        if not hello.startswith('{"hello"'):
            if self.process.poll() is None and not ready:
                self.process.kill()
            self.process.wait(timeout=10)
            tail = self.output_tail()
            raise GraderError(f"the grader's worker did not start ({command[0]}): {tail or 'no output'}")

    # ------------------------------------------------------------------ calls ------------
    def call(self, name: str, *args: Any, with_refs: tuple[str, ...] = (), own: tuple[str, ...] = ()) -> Any:
        """Call the submission's ``name``; ``with_refs`` seams are the grader's references,
        ``own`` ones the submission's own functions of those names (the capstone's)."""
        return decode(self._request({"call": name, "args": encode(list(args)), "with": list(with_refs),
                                     "own": list(own)}))

    def new(self, name: str, *args: Any) -> int:
        return self._request({"new": name, "args": encode(list(args))})

    def step(self, handle: int, event: Any) -> Any:
        return decode(self._request({"step": handle, "event": encode(event)}))

    def invoke(self, handle: int, method: str, *args: Any) -> Any:
        return decode(self._request({"invoke": handle, "method": method, "args": encode(list(args))}))

    def start_generator(self, name: str, *args: Any, with_refs: tuple[str, ...] = ()) -> int:
        return self._request({"call": name, "args": encode(list(args)), "generator": True, "with": list(with_refs)})

    def resume(self, handle: int, send: Any = None, throw: BaseException | None = None) -> tuple[str, Any]:
        """Drive a hosted generator: ``("yielded", op)`` or ``("returned", value)``."""
        if throw is not None:
            data = encode_exception(throw)
            if data is None:
                raise CodecError(f"a {type(throw).__name__} may not be thrown into learner code")
            answer = self._request({"resume": handle, "throw": data})
        else:
            answer = self._request({"resume": handle, "send": encode(send)})
        if not isinstance(answer, dict) or len(answer) != 1 or not set(answer) <= {"yielded", "returned"}:
            self._die("answered a generator step with something else")
        (how, value), = answer.items()
        return how, decode(value)

    def _wait_s(self) -> tuple[float, str]:
        wait, kind = self.limits.call_timeout_s, "timeout"
        if self.deadline is not None and self.deadline - time.monotonic() < wait:
            wait, kind = max(0.0, self.deadline - time.monotonic()), "budget"
        return wait, kind

    def _send(self, payload: dict) -> None:
        try:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._die("the process had already exited (sys.exit or os._exit?)")

    def _request(self, request: dict, load: bool = False) -> Any:
        if self.dead:
            raise LearnerError("dead", self.dead)
        self._send(request)
        while True:
            wait, kind = self._wait_s()
            ready, _, _ = select.select([self._results], [], [], wait)
            if not ready:
                if kind == "budget":
                    self._die(f"the part's time budget of {self.limits.part_budget_s:g} s ran out while your code "
                              "was running", kind="budget")
                self._die(f"no answer within {self.limits.call_timeout_s:g} s (an infinite loop?)", kind="timeout")
            line = self._results.readline()
            if not line:
                status = self.process.wait(timeout=5)
                why = {-signal.SIGKILL: "killed (memory or CPU limit?)", -signal.SIGXCPU: "CPU time limit",
                       -signal.SIGSEGV: "crashed"}.get(status, f"exited with status {status} (sys.exit or os._exit?)")
                self._die(f"the process {why}")
            try:
                answer = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                self._die("answered with something that is not JSON")
            if not isinstance(answer, dict):
                self._die("answered with something that is not an answer")
            if "callback" in answer:
                self._answer_callback(answer)
                continue
            if "error" in answer:
                kind = str(answer.get("kind", "Exception"))[:100]
                exception = None
                if answer.get("exception") is not None:
                    try:
                        exception = decode_exception(answer["exception"])
                    except CodecError:
                        exception = None
                raise LearnerError(kind, str(answer["error"])[:500], str(answer.get("traceback", ""))[-2000:],
                                   exception)
            if "ok" not in answer:
                self._die("answered without a result")
            return answer["ok"]

    def _answer_callback(self, request: dict) -> None:
        """The learner's code called a reference seam it was given: run it here."""
        name = request.get("callback")
        try:
            if self.references is None or not isinstance(name, str):
                raise LookupError(f"no reference seam {name!r}")
            function = self.references(name)
            args = decode(request.get("args", []))
            if not isinstance(args, list):
                raise TypeError("arguments must be a list")
            reply = {"result": encode(function(*args))}
        except Exception as error:
            # A ZooKeeper or lock error the seam raised (the reference predecessor's NodeVanished)
            # crosses as itself; other errors only as text.
            crossing = encode_exception(error)
            if crossing is None and not isinstance(error, (CodecError, LookupError, TypeError, ValueError,
                                                           AttributeError, RecursionError)):
                raise
            reply = {"raise": f"{type(error).__name__}: {error}"[:500], "exception": crossing}
        self._send(reply)

    def _die(self, why: str, kind: str = "died") -> None:
        self.dead = why
        self._stop()
        tail = self.output_tail()
        raise LearnerError(kind, why, tail)

    def output_tail(self, limit: int = 1500) -> str:
        """The last bytes the learner's code printed (for messages only; never parsed)."""
        chunks = []
        for name in ("stdout.txt", "stderr.txt"):
            try:
                with open(self.folder / name, "rb") as fh:
                    fh.seek(0, os.SEEK_END)
                    size = fh.tell()
                    fh.seek(max(0, size - limit))
                    chunks.append(fh.read().decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(c for c in chunks if c.strip())[-limit:]

    def _stop(self) -> None:
        """Kill the worker and everything it started (its namespace, its uid, its group)."""
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.uid is not None:
            kill_uid(self.uid, wait_s=0)  # one sweep now; the slot's release waits for the rest

    def close(self) -> None:
        """Stop the worker and everything it started, free its uid, remove its folder."""
        self._stop()
        for handle in (getattr(self, "_results", None), getattr(self, "_out", None), getattr(self, "_err", None)):
            if handle is not None:
                try:
                    handle.close()
                except OSError:
                    pass
        if self.process is not None and self.process.stdin:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        if self.slot is not None:
            release_later(self.slot)
            self.slot = None
        shutil.rmtree(self.folder, ignore_errors=True)
        if self._own_session:
            self.session.close()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _leave_network() -> None:
    """Move this (child) process into a new, empty network namespace (fallback only).

    ``unshare(CLONE_NEWNET)`` through libc (``os.unshare`` exists only from Python 3.12). A
    kernel or container that refuses it leaves the network as it was.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.unshare(0x40000000)  # CLONE_NEWNET
    except (OSError, AttributeError):
        pass
