"""The network agent: GraphSAGE over the user-device-IP-ASN neighbourhood, and its artifact."""
