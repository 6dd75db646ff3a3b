"""Output: one jinja environment, the templates and the catalogs (package resources under
templates/ and locales/), rendering a Document to LaTeX, beamer or Markdown, and PDF
compilation.
"""
