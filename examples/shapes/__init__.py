"""Shapes: the example competition of docs/new_competition.md (binary masks of bright shapes, Dice)."""
