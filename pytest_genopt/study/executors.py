"""Where a study's runs execute: local subprocesses, or Ray tasks on a cluster.

Both hand the scheduler a :class:`concurrent.futures.Future` per run whose result is
the run's record, written with its files into the run's folder of the study.

- ``local``: the run's project lives in ``OUT/runs/<folder>/project``, so an
  interrupted run resumes there.
- ``ray``: the source bundle goes into Ray's object store once and each run clones it
  in a temporary folder on whichever node runs it (no shared file system); the run's
  log, its journal folder (``run/``, with report.json) and its branch
  (``branch.bundle``) come back with the record.  An interrupted Ray run starts again
  from the source next time: its node kept nothing.
"""

from __future__ import annotations

import io
import signal
import subprocess
import tarfile
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pytest_genopt.study.runner import execute, record_of, write_record

__all__ = ["LocalExecutor", "RayExecutor", "StudyExecutorError"]


class StudyExecutorError(RuntimeError):
    """The executor cannot start (Ray missing or unreachable); one line."""


class LocalExecutor:
    """Runs as subprocesses of this machine, at most ``jobs`` at once."""

    def __init__(self, jobs: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="genopt-run")
        self._processes: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def submit(self, job: dict[str, Any], bundle: Path, folder: Path) -> Future[dict[str, Any]]:
        return self._pool.submit(self._run, job, bundle, folder)

    def _run(self, job: dict[str, Any], bundle: Path, folder: Path) -> dict[str, Any]:
        def started(process: subprocess.Popen[bytes]) -> None:
            with self._lock:
                self._processes.add(process)
                if self._stopping:  # Ctrl-C came while it was starting
                    process.send_signal(signal.SIGINT)

        try:
            record = execute(job, bundle, folder, started)
        finally:
            with self._lock:
                self._processes = {p for p in self._processes if p.poll() is None}
        write_record(folder, record)
        return record

    def interrupt(self) -> None:
        """Ask every running run to stop cleanly (each journals and exits 2)."""
        with self._lock:
            self._stopping = True
            for process in self._processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Runs as Ray tasks on the cluster at ``address`` (or ``RAY_ADDRESS``), or on a
    local Ray instance with ``jobs`` CPUs when neither names one."""

    def __init__(self, jobs: int, address: str | None) -> None:
        try:
            import ray
        except ImportError:
            raise StudyExecutorError(
                "--executor ray needs Ray: pip install 'pytest-genopt[ray]'"
            ) from None
        import logging
        import os

        local = address is None and not os.environ.get("RAY_ADDRESS")
        named = address or os.environ.get("RAY_ADDRESS")
        if named:
            _check_reachable(named)  # Ray itself retries an unreachable address for minutes
        try:
            ray.init(
                address=address,
                num_cpus=jobs if local else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except Exception as exc:  # Ray raises many types for an unreachable cluster
            where = address or os.environ.get("RAY_ADDRESS") or "a local instance"
            line = " ".join(str(exc).split())[:200]
            raise StudyExecutorError(f"cannot connect to Ray at {where}: {line}") from None
        self._ray = ray
        self._task = ray.remote(num_cpus=1, max_retries=0)(run_remotely)
        self._bundles: dict[Path, Any] = {}
        self._refs: set[Any] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(jobs, 1), thread_name_prefix="genopt-ray")

    def submit(self, job: dict[str, Any], bundle: Path, folder: Path) -> Future[dict[str, Any]]:
        if bundle not in self._bundles:  # one copy in the object store for every run
            self._bundles[bundle] = self._ray.put(bundle.read_bytes())
        ref = self._task.remote(job, self._bundles[bundle])
        with self._lock:
            self._refs.add(ref)
        return self._pool.submit(self._collect, ref, job, folder)

    def _collect(self, ref: Any, job: dict[str, Any], folder: Path) -> dict[str, Any]:
        from ray.exceptions import RayError, TaskCancelledError

        try:
            outcome = self._ray.get(ref)
        except TaskCancelledError:
            record = record_of(job, "interrupted", None)
        except RayError as exc:
            record = record_of(job, "failed", " ".join(str(exc).split())[:300])
        else:
            record = store(folder, outcome)
        finally:
            with self._lock:
                self._refs.discard(ref)
        write_record(folder, record)
        return record

    def interrupt(self) -> None:
        with self._lock:
            refs = list(self._refs)
        for ref in refs:
            self._ray.cancel(ref)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail at once, in one line, when ``HOST:PORT`` accepts no connection (``auto``,
    ``local`` and ``ray://`` addresses are left to Ray)."""
    import socket

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise StudyExecutorError(
            f"cannot connect to Ray at {address}: {exc.strerror or exc}"
        ) from None


def run_remotely(job: dict[str, Any], bundle_data: bytes) -> dict[str, Any]:
    """A Ray task: the run in a temporary folder, and what of it comes back."""
    with tempfile.TemporaryDirectory(prefix="genopt-study-") as tmp:
        bundle = Path(tmp) / "source.bundle"
        bundle.write_bytes(bundle_data)
        folder = Path(tmp) / "run"
        record = execute(job, bundle, folder)
        return {"record": record, "files": _files(folder, record)}


def _files(folder: Path, record: dict[str, Any]) -> dict[str, bytes]:
    files = {"pytest.log": (folder / "pytest.log").read_bytes()}
    project, run = folder / "project", record.get("run")
    if run:
        journal = io.BytesIO()
        with tarfile.open(fileobj=journal, mode="w:gz") as archive:
            archive.add(project / ".genopt" / "runs" / run, arcname=".")
        files["run.tar.gz"] = journal.getvalue()
        branch = (record.get("report") or {}).get("branch")
        if branch:
            bundle = folder / "branch.bundle"
            subprocess.run(
                ["git", "bundle", "create", "--quiet", str(bundle), branch],
                cwd=project,
                check=True,
                capture_output=True,
            )
            files["branch.bundle"] = bundle.read_bytes()
    return files


def store(folder: Path, outcome: dict[str, Any]) -> dict[str, Any]:
    """Write what a Ray run sent back into its folder; the record."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = outcome["files"]
    for name in ("pytest.log", "branch.bundle"):
        if name in files:
            (folder / name).write_bytes(files[name])
    if "run.tar.gz" in files:
        with tarfile.open(fileobj=io.BytesIO(files["run.tar.gz"]), mode="r:gz") as archive:
            archive.extractall(folder / "run", filter="data")  # refuses paths out of it
    record: dict[str, Any] = outcome["record"]
    return record
