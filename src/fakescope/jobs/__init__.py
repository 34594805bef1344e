"""Durable scan jobs: a queue kept in the database, leased to workers that each hold one
Scanner, and report callbacks sent in the background."""

from fakescope.jobs.queue import Job, JobQueue
from fakescope.jobs.worker import WorkerPool

__all__ = ["Job", "JobQueue", "WorkerPool"]
