"""What protects the app from its clients: uvicorn's HTTP protocol with its
deadlines and load shedding (`connections`), admission, middleware, hostile bodies.

Must not import the routes (`app.api`, `app.v2`) or `app.main`: guards know requests, not answers.
"""

FORBIDDEN = ("app.api", "app.v2", "app.main")
