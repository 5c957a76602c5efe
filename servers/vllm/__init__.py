"""How vLLM is launched for a comparison: one configuration for the CLI, the tests and compose."""
