"""The quick start, run as written against a built wheel (``drive.py``), and what the package holds (``package.py``)."""
