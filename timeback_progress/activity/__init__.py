"""The vendor SDK's activity protocol, served by Django (docs/activity-protocol.md).

``timeback-sdk`` 0.4.0 pairs a browser client with server handlers mounted at
``/api/timeback/`` (``POST activity/heartbeat``, ``POST activity/submit``,
``GET user/me``); its Django adapter is "coming soon". This package answers
the same requests with the same shapes, on this app's gradebook: a run is an
attempt, a heartbeat a time report, a submit a completion, and everything
reaches Timeback through the outbox. Include it where the page expects it:
``path("api/timeback/", include("timeback_progress.activity.urls"))``.

- ``errors``: the vendor's error body ``{"error": {"code", "message", "details"?}}``;
- ``validation``: the request rules (the vendor's ``schema.py``, and this app's bounds);
- ``serializers``: the bodies described as DRF serializers, judged by ``validation``;
- ``resolve``: the signed-in student, and the activity from ``id`` + course selector;
- ``runs``: heartbeat and submit on the gradebook, de-duplicated in the database;
- ``profile``: ``user/me``;
- ``views``, ``urls``: thin DRF views.
"""
