"""The scheduler: validates new jobs, runs queued ones through an executor, watches them."""
