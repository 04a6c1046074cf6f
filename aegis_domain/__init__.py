"""Domain types shared by every service: the login event, its context and agent signals."""
