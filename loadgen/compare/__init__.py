"""Side-by-side comparison: the same traffic against two or more servers, behind parity gates."""
