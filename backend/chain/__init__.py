"""A chain of stores: HQ's versioned catalogue, the store side that pulls and applies it, and the nearby mirror."""
