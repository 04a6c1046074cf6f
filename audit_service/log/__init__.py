"""The tamper-evident log: hash chain, Merkle trees, signed checkpoints, proofs, verify."""
