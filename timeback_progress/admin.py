"""Django admin for the mirror, corrections and sync health."""
