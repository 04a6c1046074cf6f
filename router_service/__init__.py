"""The router: validates, gathers context, fans out to the agents, applies the policy."""
