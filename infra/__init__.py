"""Infrastructure: the one definition of Drover's AWS resources and the tools that deploy it."""
