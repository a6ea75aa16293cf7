# One hit of every Python peer rule (bench/compare.sh checks that each rule fires here, so
# a rule that no longer parses or matches is caught before it is timed).
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar

request_id = ContextVar("request_id", default=None)
breadcrumbs = contextvars.ContextVar("breadcrumbs", default=[])  # ctx006
tags: ContextVar[dict] = ContextVar("tags", default={})  # ctx006
state = threading.local()
POOL = ThreadPoolExecutor(max_workers=2)


def set_discarded(rid):
    request_id.set(rid)  # ctx001
    handle()


def set_not_reset(rid):
    token = request_id.set(rid)  # ctx001
    handle()


def set_and_reset(rid):
    token = request_id.set(rid)
    try:
        handle()
    finally:
        request_id.reset(token)


async def thread_local_in_async(rid):
    state.request_id = rid  # ctx002
    await handle()


def submit(job):
    return POOL.submit(job, 1)  # ctx003


def submit_with_context(job):
    return POOL.submit(contextvars.copy_context().run, job, 1)


def shared_context(jobs):
    ctx = contextvars.copy_context()
    for job in jobs:
        POOL.submit(ctx.run, job)  # ctx005


def visit(page):
    breadcrumbs.get().append(page)  # ctx006
