"""The router's public client: logins streamed through ScoreStream, and their summary."""
