"""The gradebook: attempt lifecycle, the XP derivation, results, progress and corrections."""
