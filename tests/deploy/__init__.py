"""Deployment files and production settings."""
