"""The web page: server-rendered HTML with a little plain JavaScript and inline SVG.

`templates/` and `static/` are package data; the controller is `service.http.web`.
"""
