"""The hostile-input sweep's machinery (``tests/test_hostile_input.py`` runs it).

- ``values``: the hostile query, path, body and header values;
- ``wsgi``: a driver that calls the example project's real WSGI application;
- ``discovery``: the served routes and the parameters and bodies each one reads,
  derived from the URL resolver, the forms, serializers and admin filters.
"""
