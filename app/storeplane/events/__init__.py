"""Store events: written once by a single writer, then fanned out to subscribers in memory."""
