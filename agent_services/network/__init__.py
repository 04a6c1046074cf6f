"""The network agent: GraphSAGE over the user-device-IP-ASN neighbourhood, and its artifact."""

# The weights' file in the agent's model folder (beside metadata.json); here, not in agent.py
# or artifact.py, so that the torch-free agent and the torch-bound artifact both name it.
MODEL_FILE = "model.pt"
