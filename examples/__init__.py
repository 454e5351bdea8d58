"""Example competitions built with the stage kit (``common/recipe``); see docs/new_competition.md."""
