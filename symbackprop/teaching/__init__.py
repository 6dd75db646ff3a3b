"""Teaching: reading a student's LaTeX back (latexparse.py, latexmacros.py), linting it, grading a
hand calculation's numbers, the slips a hand calculation makes, quizzes and exercise sheets.
"""
