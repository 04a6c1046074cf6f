"""Risk agents: the Agent interface, the generic host, the registry, one module per agent."""
