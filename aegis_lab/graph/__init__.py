"""Training of the network agent's GraphSAGE: the login table, the temporal sampler, the loop."""
