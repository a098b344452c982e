"""The neutral domain: jobs, files, states and the use-cases over them.

Nothing here imports web, ORM, torch or Ray code (a unit test enforces it).
"""
