"""``fakescope watch``: rolling verdicts per person on a live stream (docs/live.md).

- ``source.py``: open, decode and reconnect with PyAV; the one-frame handoff that drops
  stale frames instead of queueing them;
- ``window.py``: faces, tracks and the face model's scores over a sliding window per
  person, with the video scan's aggregation and calibration;
- ``watch.py``: the loop that turns them into events (``events.py``);
- ``webhook.py``: posting events to a URL without ever blocking the watch;
- ``relay.py``: SRT through the system's ffmpeg (PyAV's FFmpeg has no libsrt);
- ``policy.py``: which sources the service may open (server-side request forgery).
"""
