"""Prompts: prompt source files, the prompt registry (versions and labels) and filling a
template."""
