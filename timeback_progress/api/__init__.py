"""REST API for learning apps (Django REST framework)."""
