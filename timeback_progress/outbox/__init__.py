"""The sync outbox: what Timeback must hear, written with the data it describes, delivered later.

- ``writing``: writing outbox rows in the caller's transaction (``enqueue_*``,
  ``rows_for_attempts``, the time windows, ``flush_idle_time``).
- ``completion``: the course's mastery-completion line item and results (``enqueue``, the send-time bodies).
- ``keys``: the idempotency keys of line item and result rows.
- ``kick``: after a commit that wrote rows, ask a django-q2 worker to deliver them.
- ``sending``: claim due rows under a lease and send them (``deliver_due``).
- ``outcome``: each row's fate (sent, retrying with backoff, dead), fenced by the claim.
- ``tasks``: the django-q2 tasks and their schedules.
- ``replay``: dead or retrying rows back in line (commands and admin actions).
- ``health``: the sync health figures the admin shows.

"Waiting" and "due" are ``Delivery.objects.waiting()`` and ``.due()`` (``models.outbox``).
"""
