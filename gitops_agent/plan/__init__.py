"""Plan: what a change to the specs does to every environment, for review in a pull request."""
