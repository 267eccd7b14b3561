"""The embedded stack: Drover on one machine, on moto's AWS (or LocalStack, or real AWS)."""
