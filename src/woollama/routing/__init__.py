"""The router: a `model` to a provider or a recipe, and the lifespan that owns every client."""
