"""Deployment: the ECS Fargate stack, images and compose file, rendered from the registry."""
