"""Talking to Timeback: payload builders (Caliper, OneRoster) and the HTTP client."""
