"""A second family of evaluation worlds, written apart from the training generator: other
places, sharing rates and attack tactics, RBA-shaped logins. Training never samples it."""
