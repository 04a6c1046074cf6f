"""The network agent's graph code: login neighbourhoods, a CSR sampler, GraphSAGE, training."""
