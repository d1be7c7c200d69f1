"""Daily profiles: one day of events → (user, item, score)."""
