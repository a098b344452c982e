"""Server-rendered pages for people (a browser, no API key): the training-curve page."""
