"""The outbox: what Timeback must hear, written with the data, then delivered."""
