"""Data for learners that do not step an env: offline datasets."""
