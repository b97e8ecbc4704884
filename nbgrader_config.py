"""nbgrader configuration for the course (read by `nbgrader` and by `rnncourse`).

solutions/ holds the instructor notebooks (nbgrader's "source"); exercises/ is generated
from them (nbgrader's "release") and committed. Regenerate with `make release`.
"""

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.course_id = "rnncourse"

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A correct answer must not lose its marks to a harmless warning printed on stderr.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\w*Warning: "
c.Execute.timeout = 60

# Grading specs (rnncourse grade) stay with the instructor: never copied into exercises/.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "grading.py"]
