"""The instructor side: releasing exercises and grading submissions with nbgrader.

The models in :mod:`rnncourse` never import this package.
"""
