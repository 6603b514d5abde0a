"""The Celery broker: publishing from request and task code, and the embedded broker.

``task_publish`` publishes a task by name and never raises: when the broker is unreachable after
the data a task needs was committed, the caller's answer must not change (a partner answered 500
for a message we stored would send it again). It logs a warning and returns ``False``; whoever
calls it must have a way to find the work again (the outbox sweeper re-publishes pending rows).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from pathlib import Path
from queue import Empty

from celery import current_app
from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)


def task_publish(name: str, *, args: tuple | list = (), countdown: float = 0, fallback: str = "") -> bool:
    """Publish task ``name`` with ``args``; ``False`` and a warning (saying ``fallback``: what
    happens instead) when the broker refused."""
    options = {"countdown": countdown} if countdown > 0 else {}
    try:
        current_app.send_task(name, args=tuple(args), **options)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the work is found again later
        logger.warning(
            "Broker unavailable: %s%s not published (%s: %s). %s",
            name,
            list(args)[:1],
            type(exc).__name__,
            exc,
            fallback,
        )
        return False
    return True


# --- the embedded broker ---------------------------------------------------------------------------
class FileChannel(filesystem.Channel):
    """kombu's file-system channel, made safe for several processes on one machine.

    kombu writes a message file in place (create, lock, write) while a consumer may already move
    it away and read it: a half-written file crashed the worker with ``JSONDecodeError``. Here a
    message is written under a temporary name (``.tmp-…``, which no queue matches) and renamed into
    place, so a consumer sees a whole file or none. A consumer claims a file by renaming it into
    the processed folder (same file system: one consumer wins), and a file that still cannot be
    read is logged and skipped rather than taking the worker down. Exchange tables (fanout, used
    by Celery's remote control) are rewritten the same way under one lock.
    """

    def _write_atomic(self, folder: str | Path, name: str, data: bytes) -> None:
        temp = os.path.join(folder, f".tmp-{uuid.uuid4().hex}")
        with open(temp, "wb") as f:
            f.write(data)
        os.replace(temp, os.path.join(folder, name))

    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(time.monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        try:
            self._write_atomic(self.data_folder_out, name, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add message {name!r} to {self.data_folder_out!r}") from exc

    def _get(self, queue):
        wanted = f"{queue}.msg"
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(self.processed_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer took it
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
                if not self.store_processed:
                    os.remove(claimed)
                return loads(bytes_to_str(payload))
            except (OSError, ValueError) as exc:
                logger.error("Embedded broker: skipping unreadable message file %s (%s)", claimed, exc)
        raise Empty()

    @contextlib.contextmanager
    def _tables_locked(self):
        self.control_folder.mkdir(exist_ok=True)
        with open(self.control_folder / ".tables.lock", "wb") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def get_table(self, exchange):
        file = self._exchange_file(exchange)
        try:
            return [filesystem.exchange_queue_t(*q) for q in loads(bytes_to_str(file.read_bytes()))]
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc

    def _table_change(self, exchange, change) -> None:
        file = self._exchange_file(exchange)
        with self._tables_locked():
            queues = self.get_table(exchange)
            changed = change(queues)
            if changed is not None:
                self._write_atomic(self.control_folder, file.name, str_to_bytes(dumps(changed)))

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        value = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._table_change(exchange, lambda queues: None if value in queues else [value, *queues])

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        virtual.Channel._delete(self, queue, exchange, routing_key, pattern, *args, **kwargs)
        value = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._table_change(exchange, lambda queues: [q for q in queues if q != value] if value in queues else None)


class FileTransport(filesystem.Transport):
    """The embedded broker of ``make run`` (``CELERY_BROKER_URL=filesystem://``): see ``FileChannel``."""

    Channel = FileChannel
