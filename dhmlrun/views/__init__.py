"""Views: how plans, applies and states are shown (text for people, JSON for programs).

Display only: every function here takes engine values (a `Plan`, `NodeResult`s) and returns text
or data; none decides anything, and the engine never imports this package.
"""
